//! TPC-H tables as Arrow record batches, built from `tpchgen`'s row generators.
//!
//! `tpchgen-arrow` would do this, but it has no release for Arrow 58, so the conversion lives here.
//! Every column is declared once in [`TpchTable::columns`]; the Arrow schema, the Delta and Iceberg
//! schemas and the domain files are all derived from that list so they cannot drift apart.

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, Decimal128Builder, Int32Builder, Int64Builder, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use tpchgen::dates::TPCHDate;
use tpchgen::decimal::TPCHDecimal;
use tpchgen::generators::{
    Customer, CustomerGenerator, LineItem, LineItemGenerator, Nation, NationGenerator, Order,
    OrderGenerator, Part, PartGenerator, PartSupp, PartSuppGenerator, Region, RegionGenerator,
    Supplier, SupplierGenerator,
};

/// Rows per generated batch.
pub const BATCH_ROWS: usize = 8192;

/// Precision and scale of every money, quantity, discount and tax column.
pub const DECIMAL_PRECISION: u8 = 15;
pub const DECIMAL_SCALE: i8 = 2;

/// The eight TPC-H tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TpchTable {
    Nation,
    Region,
    Part,
    Supplier,
    PartSupp,
    Customer,
    Orders,
    LineItem,
}

/// The logical type of a TPC-H column; see [`ColumnType::data_type`] for the Arrow type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Identifiers (`*key`): Int64, since SF ≥ 300 overflows Int32 for `l_orderkey`.
    Key,
    /// Small integers (`l_linenumber`, `p_size`, …): Int32.
    Int,
    /// Money, quantity, discount and tax: Decimal128(15, 2).
    Decimal,
    /// Calendar dates: Date32.
    Date,
    /// Text: Utf8.
    Text,
}

impl ColumnType {
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Key => DataType::Int64,
            ColumnType::Int => DataType::Int32,
            ColumnType::Decimal => DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
            ColumnType::Date => DataType::Date32,
            ColumnType::Text => DataType::Utf8,
        }
    }
}

/// One column of a TPC-H table with the description the mesh publishes for it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub description: &'static str,
    /// Nearly every row holds a value of its own (keys, names, addresses, comments, money).
    /// The writers store such a column without a dictionary: one would not shrink it, and a
    /// reader must fetch and decode a column chunk's whole dictionary page (up to 1 MiB) before
    /// any one of its rows, which is most of the cost of a point lookup.
    pub mostly_distinct: bool,
}

const fn col(name: &'static str, ty: ColumnType, description: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        description,
        mostly_distinct: false,
    }
}

/// A column whose values are nearly all different (see [`ColumnDef::mostly_distinct`]).
const fn distinct(c: ColumnDef) -> ColumnDef {
    ColumnDef {
        mostly_distinct: true,
        ..c
    }
}

use ColumnType::{Date, Decimal, Int, Key, Text};

const NATION: &[ColumnDef] = &[
    col("n_nationkey", Key, "Nation identifier (0-24)."),
    col("n_name", Text, "Nation name, upper case."),
    col(
        "n_regionkey",
        Key,
        "Region the nation belongs to; references region.r_regionkey.",
    ),
    col("n_comment", Text, "Free-text comment."),
];

const REGION: &[ColumnDef] = &[
    col("r_regionkey", Key, "Region identifier (0-4)."),
    col("r_name", Text, "Region name, upper case."),
    col("r_comment", Text, "Free-text comment."),
];

const PART: &[ColumnDef] = &[
    distinct(col("p_partkey", Key, "Part identifier.")),
    distinct(col("p_name", Text, "Part name: five colour words.")),
    col(
        "p_mfgr",
        Text,
        "Manufacturer, 'Manufacturer#1' to 'Manufacturer#5'.",
    ),
    col(
        "p_brand",
        Text,
        "Brand, 'Brand#MN' where M is the manufacturer number.",
    ),
    col("p_type", Text, "Part type, e.g. 'STANDARD POLISHED TIN'."),
    col("p_size", Int, "Part size, 1-50."),
    col("p_container", Text, "Container, e.g. 'SM CASE'."),
    col("p_retailprice", Decimal, "Suggested retail price in USD."),
    distinct(col("p_comment", Text, "Free-text comment.")),
];

const SUPPLIER: &[ColumnDef] = &[
    distinct(col("s_suppkey", Key, "Supplier identifier.")),
    distinct(col(
        "s_name",
        Text,
        "Supplier name, 'Supplier#' followed by the key.",
    )),
    distinct(col("s_address", Text, "Street address.")),
    col(
        "s_nationkey",
        Key,
        "Nation of the supplier; references nation.n_nationkey.",
    ),
    distinct(col(
        "s_phone",
        Text,
        "Phone number; the prefix encodes the nation.",
    )),
    distinct(col(
        "s_acctbal",
        Decimal,
        "Account balance in USD; may be negative.",
    )),
    distinct(col(
        "s_comment",
        Text,
        "Free-text comment; some mention Customer Complaints.",
    )),
];

const PARTSUPP: &[ColumnDef] = &[
    col(
        "ps_partkey",
        Key,
        "Part supplied; references part.p_partkey.",
    ),
    col(
        "ps_suppkey",
        Key,
        "Supplier; references supplier.s_suppkey.",
    ),
    col("ps_availqty", Int, "Units the supplier has available."),
    col(
        "ps_supplycost",
        Decimal,
        "Cost per unit charged by the supplier, in USD.",
    ),
    distinct(col("ps_comment", Text, "Free-text comment.")),
];

const CUSTOMER: &[ColumnDef] = &[
    distinct(col("c_custkey", Key, "Customer identifier.")),
    distinct(col(
        "c_name",
        Text,
        "Customer name, 'Customer#' followed by the key.",
    )),
    distinct(col("c_address", Text, "Street address.")),
    col(
        "c_nationkey",
        Key,
        "Nation of the customer; references nation.n_nationkey.",
    ),
    distinct(col(
        "c_phone",
        Text,
        "Phone number; the prefix encodes the nation.",
    )),
    distinct(col(
        "c_acctbal",
        Decimal,
        "Account balance in USD; may be negative.",
    )),
    col(
        "c_mktsegment",
        Text,
        "Market segment, e.g. 'BUILDING' or 'AUTOMOBILE'.",
    ),
    distinct(col("c_comment", Text, "Free-text comment.")),
];

const ORDERS: &[ColumnDef] = &[
    distinct(col(
        "o_orderkey",
        Key,
        "Order identifier (sparse: only 8 of every 32 keys are used).",
    )),
    col(
        "o_custkey",
        Key,
        "Ordering customer; references customer.c_custkey.",
    ),
    col(
        "o_orderstatus",
        Text,
        "F (all items shipped), O (none shipped) or P (partly shipped).",
    ),
    distinct(col(
        "o_totalprice",
        Decimal,
        "Total price in USD, including tax and discount.",
    )),
    col("o_orderdate", Date, "Date the order was placed."),
    col("o_orderpriority", Text, "Priority, '1-URGENT' to '5-LOW'."),
    col("o_clerk", Text, "Clerk who handled the order."),
    col(
        "o_shippriority",
        Int,
        "Shipping priority; always 0 in generated data.",
    ),
    distinct(col("o_comment", Text, "Free-text comment.")),
];

const LINEITEM: &[ColumnDef] = &[
    col(
        "l_orderkey",
        Key,
        "Order this line belongs to; references orders.o_orderkey.",
    ),
    col("l_partkey", Key, "Part ordered; references part.p_partkey."),
    col(
        "l_suppkey",
        Key,
        "Supplier of the part; (l_partkey, l_suppkey) references partsupp.",
    ),
    col("l_linenumber", Int, "Line number within the order, 1-7."),
    col("l_quantity", Decimal, "Quantity ordered, 1-50 units."),
    distinct(col(
        "l_extendedprice",
        Decimal,
        "Quantity times the part's retail price, in USD.",
    )),
    col("l_discount", Decimal, "Discount as a fraction, 0.00-0.10."),
    col("l_tax", Decimal, "Tax as a fraction, 0.00-0.08."),
    col(
        "l_returnflag",
        Text,
        "R (returned), A (accepted) or N (not yet received).",
    ),
    col(
        "l_linestatus",
        Text,
        "F (shipped before 1995-06-17) or O (open).",
    ),
    col("l_shipdate", Date, "Date the line was shipped."),
    col("l_commitdate", Date, "Date the supplier committed to."),
    col(
        "l_receiptdate",
        Date,
        "Date the customer received the goods.",
    ),
    col(
        "l_shipinstruct",
        Text,
        "Shipping instruction, e.g. 'DELIVER IN PERSON'.",
    ),
    col("l_shipmode", Text, "Shipping mode, e.g. 'AIR' or 'TRUCK'."),
    distinct(col("l_comment", Text, "Free-text comment.")),
];

impl TpchTable {
    /// All tables, smallest first.
    pub const ALL: [TpchTable; 8] = [
        TpchTable::Region,
        TpchTable::Nation,
        TpchTable::Supplier,
        TpchTable::Customer,
        TpchTable::Part,
        TpchTable::PartSupp,
        TpchTable::Orders,
        TpchTable::LineItem,
    ];

    /// The standard lower-case table name.
    pub fn name(self) -> &'static str {
        match self {
            TpchTable::Nation => "nation",
            TpchTable::Region => "region",
            TpchTable::Part => "part",
            TpchTable::Supplier => "supplier",
            TpchTable::PartSupp => "partsupp",
            TpchTable::Customer => "customer",
            TpchTable::Orders => "orders",
            TpchTable::LineItem => "lineitem",
        }
    }

    pub fn from_name(name: &str) -> Option<TpchTable> {
        TpchTable::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The table description published in the domain files and the format metadata.
    pub fn description(self) -> &'static str {
        match self {
            TpchTable::Nation => "The 25 nations of the TPC-H world, each in one region.",
            TpchTable::Region => "The 5 TPC-H regions.",
            TpchTable::Part => "One row per part the suppliers can deliver.",
            TpchTable::Supplier => "One row per supplier, with its nation and account balance.",
            TpchTable::PartSupp => "Which supplier delivers which part, with stock and unit cost.",
            TpchTable::Customer => "One row per customer, with nation and market segment.",
            TpchTable::Orders => "One row per customer order.",
            TpchTable::LineItem => {
                "One row per order line: part, supplier, quantity, price and shipping."
            }
        }
    }

    pub fn columns(self) -> &'static [ColumnDef] {
        match self {
            TpchTable::Nation => NATION,
            TpchTable::Region => REGION,
            TpchTable::Part => PART,
            TpchTable::Supplier => SUPPLIER,
            TpchTable::PartSupp => PARTSUPP,
            TpchTable::Customer => CUSTOMER,
            TpchTable::Orders => ORDERS,
            TpchTable::LineItem => LINEITEM,
        }
    }

    /// The Arrow schema of the generated batches. All TPC-H columns are NOT NULL; the schema
    /// carries no field metadata so that batches compare equal across formats.
    pub fn schema(self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns()
            .iter()
            .map(|c| Field::new(c.name, c.ty.data_type(), false))
            .collect();
        Arc::new(Schema::new(fields))
    }
}

impl std::fmt::Display for TpchTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Streams a TPC-H table at scale factor `sf` as record batches of [`BATCH_ROWS`] rows (the last
/// one shorter). The rows are generated lazily, so memory stays at one batch whatever the size.
pub fn tpch_batches(table: TpchTable, sf: f64) -> TpchBatches {
    tpch_batches_part(table, sf, 1, 1)
}

/// Like [`tpch_batches`], but only chunk `part` (1-based) of `part_count`, as `dbgen -C/-S` would
/// produce it. Chunks can be generated on separate threads; concatenated in order they equal the
/// whole table.
pub fn tpch_batches_part(table: TpchTable, sf: f64, part: i32, part_count: i32) -> TpchBatches {
    let schema = table.schema();
    // tpchgen ignores the chunk arguments for the two fixed-size tables and always yields all of
    // their rows; only the first chunk may carry them or they would be duplicated.
    let fixed_size = matches!(table, TpchTable::Nation | TpchTable::Region);
    if fixed_size && part != 1 {
        return TpchBatches {
            schema,
            inner: Box::new(std::iter::empty()),
        };
    }
    let inner: Box<dyn Iterator<Item = RecordBatch> + Send> = match table {
        TpchTable::Nation => Box::new(Batcher::new(
            NationGenerator::new(sf, part, part_count).into_iter(),
            NationColumns::new(),
            schema.clone(),
        )),
        TpchTable::Region => Box::new(Batcher::new(
            RegionGenerator::new(sf, part, part_count).into_iter(),
            RegionColumns::new(),
            schema.clone(),
        )),
        TpchTable::Part => Box::new(Batcher::new(
            PartGenerator::new(sf, part, part_count).into_iter(),
            PartColumns::new(),
            schema.clone(),
        )),
        TpchTable::Supplier => Box::new(Batcher::new(
            SupplierGenerator::new(sf, part, part_count).into_iter(),
            SupplierColumns::new(),
            schema.clone(),
        )),
        TpchTable::PartSupp => Box::new(Batcher::new(
            PartSuppGenerator::new(sf, part, part_count).into_iter(),
            PartSuppColumns::new(),
            schema.clone(),
        )),
        TpchTable::Customer => Box::new(Batcher::new(
            CustomerGenerator::new(sf, part, part_count).into_iter(),
            CustomerColumns::new(),
            schema.clone(),
        )),
        TpchTable::Orders => Box::new(Batcher::new(
            OrderGenerator::new(sf, part, part_count).into_iter(),
            OrderColumns::new(),
            schema.clone(),
        )),
        TpchTable::LineItem => Box::new(Batcher::new(
            LineItemGenerator::new(sf, part, part_count).into_iter(),
            LineItemColumns::new(),
            schema.clone(),
        )),
    };
    TpchBatches { schema, inner }
}

/// Iterator returned by [`tpch_batches`].
pub struct TpchBatches {
    schema: SchemaRef,
    inner: Box<dyn Iterator<Item = RecordBatch> + Send>,
}

impl TpchBatches {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Iterator for TpchBatches {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        self.inner.next()
    }
}

impl std::fmt::Debug for TpchBatches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpchBatches")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Column builders for one table's rows.
trait Columns {
    type Row;
    fn push(&mut self, row: Self::Row);
    /// Finishes the arrays in schema order and leaves the builders empty for the next batch.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

struct Batcher<I, C> {
    rows: I,
    columns: C,
    schema: SchemaRef,
}

impl<I, C> Batcher<I, C> {
    fn new(rows: I, columns: C, schema: SchemaRef) -> Self {
        Batcher {
            rows,
            columns,
            schema,
        }
    }
}

impl<I, C> Iterator for Batcher<I, C>
where
    I: Iterator<Item = C::Row>,
    C: Columns,
{
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        let mut rows = 0;
        for row in self.rows.by_ref().take(BATCH_ROWS) {
            self.columns.push(row);
            rows += 1;
        }
        if rows == 0 {
            return None;
        }
        let arrays = self.columns.finish();
        Some(
            RecordBatch::try_new(self.schema.clone(), arrays)
                .expect("column builders follow TpchTable::columns, so types and lengths match"),
        )
    }
}

fn key() -> Int64Builder {
    Int64Builder::with_capacity(BATCH_ROWS)
}

fn int() -> Int32Builder {
    Int32Builder::with_capacity(BATCH_ROWS)
}

fn decimal() -> Decimal128Builder {
    Decimal128Builder::with_capacity(BATCH_ROWS)
        .with_data_type(DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE))
}

fn date() -> Date32Builder {
    Date32Builder::with_capacity(BATCH_ROWS)
}

/// `bytes_per_row` only sizes the first allocation; the builder grows if it is too small.
fn text(bytes_per_row: usize) -> StringBuilder {
    StringBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * bytes_per_row)
}

fn money(d: TPCHDecimal) -> i128 {
    // TPCHDecimal already holds hundredths, i.e. exactly the scale-2 representation.
    i128::from(d.into_inner())
}

fn days(d: TPCHDate) -> i32 {
    d.to_unix_epoch()
}

/// Appends a value rendered through `Display` without an intermediate `String`.
fn push_display(builder: &mut StringBuilder, value: impl std::fmt::Display) {
    write!(builder, "{value}").expect("writing into a StringBuilder cannot fail");
    builder.append_value("");
}

fn arr(b: &mut impl datafusion::arrow::array::ArrayBuilder) -> ArrayRef {
    b.finish()
}

struct NationColumns {
    nationkey: Int64Builder,
    name: StringBuilder,
    regionkey: Int64Builder,
    comment: StringBuilder,
}

impl NationColumns {
    fn new() -> Self {
        NationColumns {
            nationkey: key(),
            name: text(12),
            regionkey: key(),
            comment: text(80),
        }
    }
}

impl Columns for NationColumns {
    type Row = Nation<'static>;

    fn push(&mut self, r: Self::Row) {
        self.nationkey.append_value(r.n_nationkey);
        self.name.append_value(r.n_name);
        self.regionkey.append_value(r.n_regionkey);
        self.comment.append_value(r.n_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.nationkey),
            arr(&mut self.name),
            arr(&mut self.regionkey),
            arr(&mut self.comment),
        ]
    }
}

struct RegionColumns {
    regionkey: Int64Builder,
    name: StringBuilder,
    comment: StringBuilder,
}

impl RegionColumns {
    fn new() -> Self {
        RegionColumns {
            regionkey: key(),
            name: text(12),
            comment: text(80),
        }
    }
}

impl Columns for RegionColumns {
    type Row = Region<'static>;

    fn push(&mut self, r: Self::Row) {
        self.regionkey.append_value(r.r_regionkey);
        self.name.append_value(r.r_name);
        self.comment.append_value(r.r_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.regionkey),
            arr(&mut self.name),
            arr(&mut self.comment),
        ]
    }
}

struct PartColumns {
    partkey: Int64Builder,
    name: StringBuilder,
    mfgr: StringBuilder,
    brand: StringBuilder,
    ptype: StringBuilder,
    size: Int32Builder,
    container: StringBuilder,
    retailprice: Decimal128Builder,
    comment: StringBuilder,
}

impl PartColumns {
    fn new() -> Self {
        PartColumns {
            partkey: key(),
            name: text(36),
            mfgr: text(14),
            brand: text(8),
            ptype: text(22),
            size: int(),
            container: text(10),
            retailprice: decimal(),
            comment: text(14),
        }
    }
}

impl Columns for PartColumns {
    type Row = Part<'static>;

    fn push(&mut self, r: Self::Row) {
        self.partkey.append_value(r.p_partkey);
        push_display(&mut self.name, r.p_name);
        push_display(&mut self.mfgr, r.p_mfgr);
        push_display(&mut self.brand, r.p_brand);
        self.ptype.append_value(r.p_type);
        self.size.append_value(r.p_size);
        self.container.append_value(r.p_container);
        self.retailprice.append_value(money(r.p_retailprice));
        self.comment.append_value(r.p_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.partkey),
            arr(&mut self.name),
            arr(&mut self.mfgr),
            arr(&mut self.brand),
            arr(&mut self.ptype),
            arr(&mut self.size),
            arr(&mut self.container),
            arr(&mut self.retailprice),
            arr(&mut self.comment),
        ]
    }
}

struct SupplierColumns {
    suppkey: Int64Builder,
    name: StringBuilder,
    address: StringBuilder,
    nationkey: Int64Builder,
    phone: StringBuilder,
    acctbal: Decimal128Builder,
    comment: StringBuilder,
}

impl SupplierColumns {
    fn new() -> Self {
        SupplierColumns {
            suppkey: key(),
            name: text(18),
            address: text(26),
            nationkey: key(),
            phone: text(15),
            acctbal: decimal(),
            comment: text(63),
        }
    }
}

impl Columns for SupplierColumns {
    type Row = Supplier;

    fn push(&mut self, r: Self::Row) {
        self.suppkey.append_value(r.s_suppkey);
        push_display(&mut self.name, r.s_name);
        push_display(&mut self.address, r.s_address);
        self.nationkey.append_value(r.s_nationkey);
        push_display(&mut self.phone, r.s_phone);
        self.acctbal.append_value(money(r.s_acctbal));
        self.comment.append_value(&r.s_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.suppkey),
            arr(&mut self.name),
            arr(&mut self.address),
            arr(&mut self.nationkey),
            arr(&mut self.phone),
            arr(&mut self.acctbal),
            arr(&mut self.comment),
        ]
    }
}

struct PartSuppColumns {
    partkey: Int64Builder,
    suppkey: Int64Builder,
    availqty: Int32Builder,
    supplycost: Decimal128Builder,
    comment: StringBuilder,
}

impl PartSuppColumns {
    fn new() -> Self {
        PartSuppColumns {
            partkey: key(),
            suppkey: key(),
            availqty: int(),
            supplycost: decimal(),
            comment: text(125),
        }
    }
}

impl Columns for PartSuppColumns {
    type Row = PartSupp<'static>;

    fn push(&mut self, r: Self::Row) {
        self.partkey.append_value(r.ps_partkey);
        self.suppkey.append_value(r.ps_suppkey);
        self.availqty.append_value(r.ps_availqty);
        self.supplycost.append_value(money(r.ps_supplycost));
        self.comment.append_value(r.ps_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.partkey),
            arr(&mut self.suppkey),
            arr(&mut self.availqty),
            arr(&mut self.supplycost),
            arr(&mut self.comment),
        ]
    }
}

struct CustomerColumns {
    custkey: Int64Builder,
    name: StringBuilder,
    address: StringBuilder,
    nationkey: Int64Builder,
    phone: StringBuilder,
    acctbal: Decimal128Builder,
    mktsegment: StringBuilder,
    comment: StringBuilder,
}

impl CustomerColumns {
    fn new() -> Self {
        CustomerColumns {
            custkey: key(),
            name: text(18),
            address: text(26),
            nationkey: key(),
            phone: text(15),
            acctbal: decimal(),
            mktsegment: text(10),
            comment: text(73),
        }
    }
}

impl Columns for CustomerColumns {
    type Row = Customer<'static>;

    fn push(&mut self, r: Self::Row) {
        self.custkey.append_value(r.c_custkey);
        push_display(&mut self.name, r.c_name);
        push_display(&mut self.address, r.c_address);
        self.nationkey.append_value(r.c_nationkey);
        push_display(&mut self.phone, r.c_phone);
        self.acctbal.append_value(money(r.c_acctbal));
        self.mktsegment.append_value(r.c_mktsegment);
        self.comment.append_value(r.c_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.custkey),
            arr(&mut self.name),
            arr(&mut self.address),
            arr(&mut self.nationkey),
            arr(&mut self.phone),
            arr(&mut self.acctbal),
            arr(&mut self.mktsegment),
            arr(&mut self.comment),
        ]
    }
}

struct OrderColumns {
    orderkey: Int64Builder,
    custkey: Int64Builder,
    orderstatus: StringBuilder,
    totalprice: Decimal128Builder,
    orderdate: Date32Builder,
    orderpriority: StringBuilder,
    clerk: StringBuilder,
    shippriority: Int32Builder,
    comment: StringBuilder,
}

impl OrderColumns {
    fn new() -> Self {
        OrderColumns {
            orderkey: key(),
            custkey: key(),
            orderstatus: text(1),
            totalprice: decimal(),
            orderdate: date(),
            orderpriority: text(9),
            clerk: text(15),
            shippriority: int(),
            comment: text(49),
        }
    }
}

impl Columns for OrderColumns {
    type Row = Order<'static>;

    fn push(&mut self, r: Self::Row) {
        self.orderkey.append_value(r.o_orderkey);
        self.custkey.append_value(r.o_custkey);
        self.orderstatus.append_value(r.o_orderstatus.as_str());
        self.totalprice.append_value(money(r.o_totalprice));
        self.orderdate.append_value(days(r.o_orderdate));
        self.orderpriority.append_value(r.o_orderpriority);
        push_display(&mut self.clerk, r.o_clerk);
        self.shippriority.append_value(r.o_shippriority);
        self.comment.append_value(r.o_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.orderkey),
            arr(&mut self.custkey),
            arr(&mut self.orderstatus),
            arr(&mut self.totalprice),
            arr(&mut self.orderdate),
            arr(&mut self.orderpriority),
            arr(&mut self.clerk),
            arr(&mut self.shippriority),
            arr(&mut self.comment),
        ]
    }
}

struct LineItemColumns {
    orderkey: Int64Builder,
    partkey: Int64Builder,
    suppkey: Int64Builder,
    linenumber: Int32Builder,
    quantity: Decimal128Builder,
    extendedprice: Decimal128Builder,
    discount: Decimal128Builder,
    tax: Decimal128Builder,
    returnflag: StringBuilder,
    linestatus: StringBuilder,
    shipdate: Date32Builder,
    commitdate: Date32Builder,
    receiptdate: Date32Builder,
    shipinstruct: StringBuilder,
    shipmode: StringBuilder,
    comment: StringBuilder,
}

impl LineItemColumns {
    fn new() -> Self {
        LineItemColumns {
            orderkey: key(),
            partkey: key(),
            suppkey: key(),
            linenumber: int(),
            quantity: decimal(),
            extendedprice: decimal(),
            discount: decimal(),
            tax: decimal(),
            returnflag: text(1),
            linestatus: text(1),
            shipdate: date(),
            commitdate: date(),
            receiptdate: date(),
            shipinstruct: text(17),
            shipmode: text(7),
            comment: text(27),
        }
    }
}

impl Columns for LineItemColumns {
    type Row = LineItem<'static>;

    fn push(&mut self, r: Self::Row) {
        self.orderkey.append_value(r.l_orderkey);
        self.partkey.append_value(r.l_partkey);
        self.suppkey.append_value(r.l_suppkey);
        self.linenumber.append_value(r.l_linenumber);
        // tpchgen yields whole units; the column is a scale-2 decimal like the other amounts.
        self.quantity.append_value(i128::from(r.l_quantity) * 100);
        self.extendedprice.append_value(money(r.l_extendedprice));
        self.discount.append_value(money(r.l_discount));
        self.tax.append_value(money(r.l_tax));
        self.returnflag.append_value(r.l_returnflag);
        self.linestatus.append_value(r.l_linestatus);
        self.shipdate.append_value(days(r.l_shipdate));
        self.commitdate.append_value(days(r.l_commitdate));
        self.receiptdate.append_value(days(r.l_receiptdate));
        self.shipinstruct.append_value(r.l_shipinstruct);
        self.shipmode.append_value(r.l_shipmode);
        self.comment.append_value(r.l_comment);
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        vec![
            arr(&mut self.orderkey),
            arr(&mut self.partkey),
            arr(&mut self.suppkey),
            arr(&mut self.linenumber),
            arr(&mut self.quantity),
            arr(&mut self.extendedprice),
            arr(&mut self.discount),
            arr(&mut self.tax),
            arr(&mut self.returnflag),
            arr(&mut self.linestatus),
            arr(&mut self.shipdate),
            arr(&mut self.commitdate),
            arr(&mut self.receiptdate),
            arr(&mut self.shipinstruct),
            arr(&mut self.shipmode),
            arr(&mut self.comment),
        ]
    }
}
