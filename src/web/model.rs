//! What the pages and the API show, read from the mesh's in-memory metadata (the same the
//! pg_catalog lists): never waits on storage. A table not opened yet shows no columns until the
//! background warm-up (or a query) has read its metadata.

use std::sync::Arc;

use serde::Serialize;

use crate::catalog::types::{column_type, format_type};
use crate::catalog::{Mesh, ProductEntry, TableEntry};
use crate::policy::Principal;

#[derive(Debug, Serialize)]
pub(super) struct DomainView {
    pub name: String,
    pub description: String,
    pub owners: Vec<String>,
    pub products: Vec<ProductSummary>,
}

#[derive(Debug, Serialize)]
pub(super) struct ProductSummary {
    pub name: String,
    pub domain: String,
    pub description: String,
    pub owner: String,
    pub tags: Vec<String>,
    pub tables: Vec<String>,
    /// Whether the signed-in user may read at least one of its tables.
    pub readable: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct ProductView {
    #[serde(flatten)]
    pub summary: ProductSummary,
    /// The owning domain's owners.
    pub domain_owners: Vec<String>,
    pub formats: Vec<String>,
    pub writable: bool,
    /// The newest commit of its tables.
    pub freshness: Option<Freshness>,
    pub tables: Vec<TableSummary>,
    /// Who may read it, as the domain wrote it.
    pub grants: Vec<GrantView>,
    /// Where its data must stay, and what may leave for consumers of other regions.
    pub jurisdiction: Option<String>,
    pub residency: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Freshness {
    pub table: String,
    pub version: Option<String>,
    /// RFC 3339, UTC.
    pub committed_at: String,
    #[serde(skip)]
    pub committed_at_ms: i64,
}

#[derive(Debug, Serialize)]
pub(super) struct TableSummary {
    pub name: String,
    pub format: String,
    pub description: Option<String>,
    pub version: Option<String>,
    pub committed_at: Option<String>,
    pub row_count: Option<u64>,
    pub readable: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct GrantView {
    /// One table; unset: the whole product.
    pub table: Option<String>,
    pub to: Vec<String>,
    pub privilege: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct TableView {
    pub product: String,
    pub domain: String,
    #[serde(flatten)]
    pub summary: TableSummary,
    /// Unset while the table's metadata has not been read yet.
    pub columns: Option<Vec<ColumnView>>,
    /// Row filters that apply to the signed-in user, by name.
    pub row_filters: Vec<String>,
    pub lineage: Lineage,
}

/// Where a table's data goes and comes from, as far as meshgate wrote it.
#[derive(Debug, Serialize)]
pub(super) struct Lineage {
    /// Views and created tables (dbt models) in writable products that read this table, of
    /// the products shown to the user.
    pub read_by: Vec<Relation>,
    /// For a view, its definition; for a table `CREATE TABLE … AS` made, the query it was built
    /// from. Unset for tables the domain's own pipelines write.
    pub built_from: Option<BuiltFrom>,
}

#[derive(Debug, Serialize)]
pub(super) struct Relation {
    pub product: String,
    pub table: String,
    /// `view` or `table`.
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub(super) struct BuiltFrom {
    pub sql: String,
    /// The relations it read, `product.table`.
    pub reads: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct ColumnView {
    pub name: String,
    /// The column's PostgreSQL type, as `format_type` prints it.
    pub data_type: String,
    pub nullable: bool,
    pub description: Option<String>,
    /// Masked for the signed-in user.
    pub masked: bool,
}

/// One search hit.
#[derive(Debug, Serialize)]
pub(super) struct Hit {
    pub product: String,
    pub table: Option<String>,
    pub column: Option<String>,
    /// What matched: `product`, `table`, `column`, `tag`, `description`.
    pub matched: &'static str,
    pub text: String,
}

pub(super) fn rfc3339(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn readable_product(p: &ProductEntry, who: &Principal) -> bool {
    p.tables.keys().any(|t| who.may_read(&p.name, t))
}

/// Whether the product is shown to `who` at all: every product is, but a hidden one only to
/// those who may read it.
pub(super) fn visible(p: &ProductEntry, who: &Principal) -> bool {
    !p.hidden || readable_product(p, who)
}

pub(super) fn summary(p: &ProductEntry, who: &Principal) -> ProductSummary {
    ProductSummary {
        name: p.name.clone(),
        domain: p.domain.clone(),
        description: p.description.clone(),
        owner: p.owner.clone(),
        tags: p.tags.clone(),
        tables: p.tables.keys().cloned().collect(),
        readable: readable_product(p, who),
    }
}

pub(super) fn domains(mesh: &Mesh, who: &Principal) -> Vec<DomainView> {
    mesh.domains
        .iter()
        .map(|d| DomainView {
            name: d.name.clone(),
            description: d.description.clone(),
            owners: d.owners.clone(),
            products: mesh
                .products
                .values()
                .filter(|p| p.domain == d.name && visible(p, who))
                .map(|p| summary(p, who))
                .collect(),
        })
        .collect()
}

fn table_summary(t: &TableEntry, who: &Principal) -> TableSummary {
    let meta = t.known();
    TableSummary {
        name: t.name.clone(),
        format: if t.view.is_some() {
            "view".into()
        } else {
            t.format.to_string()
        },
        description: t.description(),
        version: meta.as_ref().and_then(|m| m.version.clone()),
        committed_at: meta
            .as_ref()
            .and_then(|m| m.committed_at_ms)
            .and_then(rfc3339),
        row_count: meta.as_ref().and_then(|m| m.row_count),
        readable: who.may_read(&t.product, &t.name),
    }
}

pub(super) fn product(mesh: &Mesh, name: &str, who: &Principal) -> Option<ProductView> {
    let p = mesh.products.get(name).filter(|p| visible(p, who))?;
    let mut formats: Vec<String> = p
        .tables
        .values()
        .map(|t| {
            if t.view.is_some() {
                "view".to_string()
            } else {
                t.format.to_string()
            }
        })
        .collect();
    formats.sort();
    formats.dedup();
    let freshness = p
        .tables
        .values()
        .filter_map(|t| {
            let m = t.known()?;
            let ms = m.committed_at_ms?;
            Some(Freshness {
                table: t.name.clone(),
                version: m.version.clone(),
                committed_at: rfc3339(ms)?,
                committed_at_ms: ms,
            })
        })
        .max_by_key(|f| f.committed_at_ms);
    let grants = mesh
        .policies
        .grants
        .iter()
        .filter(|g| g.product == p.name)
        .map(|g| GrantView {
            table: g.table.clone(),
            to: g.to.clone(),
            privilege: if g.write { "write" } else { "read" },
        })
        .collect();
    let domain = mesh.domains.iter().find(|d| d.name == p.domain);
    Some(ProductView {
        summary: summary(p, who),
        domain_owners: domain.map(|d| d.owners.clone()).unwrap_or_default(),
        jurisdiction: domain.and_then(|d| d.jurisdiction.clone()),
        residency: p.residency.as_ref().map(|r| r.describe()),
        formats,
        writable: p.write.is_some(),
        freshness,
        tables: p.tables.values().map(|t| table_summary(t, who)).collect(),
        grants,
    })
}

pub(super) fn table(mesh: &Mesh, product: &str, name: &str, who: &Principal) -> Option<TableView> {
    let p = mesh.products.get(product).filter(|p| visible(p, who))?;
    let t = p.tables.get(name)?;
    let meta = t.known();
    let masks = who.masks(product, name);
    let columns = meta.as_ref().map(|m| {
        m.schema
            .fields()
            .iter()
            .map(|f| {
                let ty = column_type(f.data_type());
                ColumnView {
                    name: f.name().clone(),
                    data_type: format_type(ty.oid, Some(ty.typmod))
                        .unwrap_or_else(|| "text".into()),
                    nullable: f.is_nullable(),
                    description: t.column_description(f.name(), Some(m)),
                    masked: masks.contains_key(f.name()),
                }
            })
            .collect()
    });
    Some(TableView {
        product: p.name.clone(),
        domain: p.domain.clone(),
        summary: table_summary(t, who),
        columns,
        row_filters: who
            .row_filters(product, name)
            .iter()
            .map(|f| f.name.clone())
            .collect(),
        lineage: lineage(mesh, t, who),
    })
}

/// From the catalog's records alone: views keep the relations their definition names, and
/// created tables the query they were built from, so nothing is planned or read here.
fn lineage(mesh: &Mesh, t: &TableEntry, who: &Principal) -> Lineage {
    let me = format!("{}.{}", t.product, t.name);
    let read_by = mesh
        .products
        .values()
        .filter(|p| p.write.is_some() && visible(p, who))
        .flat_map(|p| p.tables.values())
        .filter(|r| r.source.as_ref().is_some_and(|s| s.reads.contains(&me)))
        .map(|r| Relation {
            product: r.product.clone(),
            table: r.name.clone(),
            kind: if r.view.is_some() { "view" } else { "table" },
        })
        .collect();
    Lineage {
        read_by,
        built_from: t.source.as_ref().map(|s| BuiltFrom {
            // As written: a table version folded into its name for the parser is a clause.
            sql: meshgate_sqlfront::versions::unfolded(&s.sql).into_owned(),
            reads: s.reads.clone(),
        }),
    }
}

/// Products, tables and columns whose name, description or tags hold `q` (case-insensitive),
/// of the products `who` is shown.
pub(super) fn search(mesh: &Arc<Mesh>, q: &str, who: &Principal) -> Vec<Hit> {
    let q = q.trim().to_lowercase();
    let mut hits = Vec::new();
    if q.is_empty() {
        return hits;
    }
    let has = |s: &str| s.to_lowercase().contains(&q);
    for p in mesh.products.values().filter(|p| visible(p, who)) {
        let hit = |table: Option<&str>, column: Option<&str>, matched, text: &str| Hit {
            product: p.name.clone(),
            table: table.map(str::to_string),
            column: column.map(str::to_string),
            matched,
            text: text.to_string(),
        };
        if has(&p.name) {
            hits.push(hit(None, None, "product", &p.name));
        } else if has(&p.description) {
            hits.push(hit(None, None, "description", &p.description));
        } else if let Some(tag) = p.tags.iter().find(|t| has(t)) {
            hits.push(hit(None, None, "tag", tag));
        }
        for t in p.tables.values() {
            let description = t.description().unwrap_or_default();
            if has(&t.name) {
                hits.push(hit(Some(&t.name), None, "table", &t.name));
            } else if has(&description) {
                hits.push(hit(Some(&t.name), None, "description", &description));
            }
            let Some(meta) = t.known() else { continue };
            for f in meta.schema.fields() {
                let description = t
                    .column_description(f.name(), Some(&meta))
                    .unwrap_or_default();
                if has(f.name()) {
                    hits.push(hit(Some(&t.name), Some(f.name()), "column", f.name()));
                } else if has(&description) {
                    hits.push(hit(
                        Some(&t.name),
                        Some(f.name()),
                        "description",
                        &description,
                    ));
                }
            }
        }
    }
    hits
}
