//! The domain files (`conf/domains/<domain>.toml`) describing the generated mesh.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{DemoError, IoContext};
use crate::iceberg_out::{CATALOG_NAME, NAMESPACE};
use crate::tpch::TpchTable;

/// How a domain stores its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Delta,
    /// Registered in the domain's SQL catalog.
    Iceberg,
    Parquet,
}

impl TableFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::Delta => "delta",
            TableFormat::Iceberg => "iceberg",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// One domain of the demo mesh; each domain publishes one product of the same name.
#[derive(Debug, Clone, Copy)]
pub struct DomainDef {
    pub name: &'static str,
    pub description: &'static str,
    pub owner: &'static str,
    pub product_description: &'static str,
    pub tags: &'static [&'static str],
    pub format: TableFormat,
    pub tables: &'static [TpchTable],
}

pub const DOMAINS: [DomainDef; 3] = [
    DomainDef {
        name: "sales",
        description: "Orders, line items and customers, owned by the sales domain.",
        owner: "sales-data@example.com",
        product_description:
            "Customer orders with their line items, and the customers who placed them.",
        tags: &["tpch", "orders"],
        format: TableFormat::Delta,
        tables: &[TpchTable::Orders, TpchTable::LineItem, TpchTable::Customer],
    },
    DomainDef {
        name: "supply",
        description:
            "Parts, suppliers and which supplier stocks which part, owned by the supply domain.",
        owner: "supply-data@example.com",
        product_description:
            "The parts catalogue, the suppliers, and each supplier's stock and cost per part.",
        tags: &["tpch", "supply-chain"],
        format: TableFormat::Iceberg,
        tables: &[TpchTable::Part, TpchTable::PartSupp, TpchTable::Supplier],
    },
    DomainDef {
        name: "geo",
        description: "Nations and regions: the reference geography every other domain joins to.",
        owner: "geo-data@example.com",
        product_description: "The 25 nations and 5 regions of the TPC-H world.",
        tags: &["tpch", "reference-data"],
        format: TableFormat::Parquet,
        tables: &[TpchTable::Nation, TpchTable::Region],
    },
];

/// The domain owning `table`.
pub fn domain_of(table: TpchTable) -> &'static DomainDef {
    DOMAINS
        .iter()
        .find(|d| d.tables.contains(&table))
        .expect("DOMAINS lists every TPC-H table exactly once")
}

/// Hive partition column of a Parquet table, with its SQL type name. The type matches the Int64
/// the column has in the baseline copy.
pub fn partition_column(table: TpchTable) -> Option<(&'static str, &'static str)> {
    match table {
        TpchTable::Nation => Some(("n_regionkey", "bigint")),
        _ => None,
    }
}

/// Where the partition column stands among the table's TPC-H columns (1-based).
fn partition_position(table: TpchTable) -> Option<usize> {
    match table {
        TpchTable::Nation => Some(3),
        _ => None,
    }
}

/// Columns whose descriptions are repeated in the domain file. Delta and Iceberg carry every
/// column's description in their own metadata; plain Parquet cannot, so the `geo` tables list all.
fn described_columns(table: TpchTable) -> &'static [&'static str] {
    match table {
        TpchTable::Orders => &[
            "o_orderkey",
            "o_custkey",
            "o_orderstatus",
            "o_totalprice",
            "o_orderdate",
        ],
        TpchTable::LineItem => &[
            "l_orderkey",
            "l_quantity",
            "l_extendedprice",
            "l_discount",
            "l_returnflag",
            "l_shipdate",
        ],
        TpchTable::Customer => &["c_custkey", "c_nationkey", "c_acctbal", "c_mktsegment"],
        TpchTable::Part => &["p_partkey", "p_brand", "p_type", "p_retailprice"],
        TpchTable::PartSupp => &["ps_partkey", "ps_suppkey", "ps_availqty", "ps_supplycost"],
        TpchTable::Supplier => &["s_suppkey", "s_nationkey", "s_acctbal"],
        TpchTable::Nation => &["n_nationkey", "n_name", "n_regionkey", "n_comment"],
        TpchTable::Region => &["r_regionkey", "r_name", "r_comment"],
    }
}

/// The roles the demo's domain files grant to, declared in `meshgate.toml` (`[[roles]]`):
/// `analyst` reads sales and geo, `buyer` reads supply and geo, `regional` is an analyst who
/// sees only the customers of the region in their `region` attribute, with phone numbers masked.
pub const ROLES_TOML: &str = r#"[[roles]]
name = "analyst"
description = "Reads the sales and geo products."

[[roles]]
name = "buyer"
description = "Reads the supply and geo products."

[[roles]]
name = "regional"
description = "An analyst for one region: sees that region's customers only, phone numbers masked."
member_of = ["analyst"]
"#;

/// The demo's policies: each domain grants its own product and sets its own filters and masks.
fn policies(domain: &str) -> &'static str {
    match domain {
        "geo" => "[[grants]]\nproduct = \"geo\"\nto = [\"public\"]\n",
        "supply" => "[[grants]]\nproduct = \"supply\"\nto = [\"buyer\"]\n",
        "sales" => {
            r#"[[grants]]
product = "sales"
to = ["analyst"]

[[row_filters]]
name = "customers_of_my_region"
product = "sales"
table = "customer"
to = ["regional"]
filter = "c_nationkey IN (SELECT n.n_nationkey FROM geo.nation n JOIN geo.region r ON n.n_regionkey = r.r_regionkey WHERE r.r_name = current_setting('mesh.user.region'))"

[[masks]]
name = "phone_prefix_only"
product = "sales"
table = "customer"
column = "c_phone"
to = ["regional"]
mask = "left(c_phone, 3) || '****'"
"#
        }
        _ => "",
    }
}

/// Renders `conf/domains/<domain>.toml`. `storage_root` is the domain's data directory; the
/// catalog arguments are used by the Iceberg domain only.
pub(crate) fn render_domain(
    domain: &DomainDef,
    storage_root: &str,
    catalog_uri: &str,
    warehouse: &str,
) -> String {
    let mut out = String::new();
    // `write!` into a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "name = {}", quote(domain.name));
    let _ = writeln!(out, "description = {}", quote(domain.description));
    let _ = writeln!(out, "owners = [{}]", quote(domain.owner));
    let _ = writeln!(out);
    let _ = writeln!(out, "[storage]");
    let _ = writeln!(out, "root = {}", quote(storage_root));
    if domain.format == TableFormat::Iceberg {
        let _ = writeln!(out);
        let _ = writeln!(out, "[catalogs.{CATALOG_NAME}]");
        let _ = writeln!(out, "type = \"sql\"");
        let _ = writeln!(out, "uri = {}", quote(catalog_uri));
        let _ = writeln!(out, "warehouse = {}", quote(warehouse));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "[[products]]");
    let _ = writeln!(out, "name = {}", quote(domain.name));
    let _ = writeln!(out, "description = {}", quote(domain.product_description));
    let _ = writeln!(out, "owner = {}", quote(domain.owner));
    let tags: Vec<String> = domain.tags.iter().map(|t| quote(t)).collect();
    let _ = writeln!(out, "tags = [{}]", tags.join(", "));

    for &table in domain.tables {
        let _ = writeln!(out);
        let _ = writeln!(out, "[[products.tables]]");
        let _ = writeln!(out, "name = {}", quote(table.name()));
        let _ = writeln!(out, "format = {}", quote(domain.format.as_str()));
        match domain.format {
            TableFormat::Iceberg => {
                let _ = writeln!(out, "catalog = {}", quote(CATALOG_NAME));
                let _ = writeln!(out, "namespace = {}", quote(NAMESPACE));
                let _ = writeln!(out, "table = {}", quote(table.name()));
            }
            TableFormat::Delta | TableFormat::Parquet => {
                let _ = writeln!(out, "location = {}", quote(table.name()));
            }
        }
        // Only a Parquet table lays a column out in its paths.
        let partitioned = partition_column(table).filter(|_| domain.format == TableFormat::Parquet);
        if let Some((column, ty)) = partitioned {
            let position = partition_position(table)
                .map(|p| format!(", position = {p}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "partition_columns = [{{ name = {}, type = {}{position} }}]",
                quote(column),
                quote(ty)
            );
        }
        let _ = writeln!(out, "description = {}", quote(table.description()));
        let columns: Vec<String> = described_columns(table)
            .iter()
            .filter_map(|name| table.columns().iter().find(|c| c.name == *name))
            .map(|c| format!("{} = {}", c.name, quote(c.description)))
            .collect();
        let _ = writeln!(out, "columns = {{ {} }}", columns.join(", "));
    }
    let policies = policies(domain.name);
    if !policies.is_empty() {
        let _ = writeln!(out);
        out.push_str(policies);
    }
    out
}

/// Writes `contents` to `path` unless the file already holds exactly that, so an unchanged mesh
/// does not touch the files a running server may be watching.
pub(crate) fn write_if_changed(path: &Path, contents: &str) -> Result<(), DemoError> {
    if std::fs::read_to_string(path).is_ok_and(|existing| existing == contents) {
        return Ok(());
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, contents).io("write", &tmp)?;
    // Renaming makes the new file appear atomically to a reader polling the directory.
    std::fs::rename(&tmp, path).io("rename into place", path)
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
