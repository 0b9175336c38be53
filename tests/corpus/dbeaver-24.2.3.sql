-- DBeaver Community Edition 24.2.3 (October 2024), PostgreSQL driver: the metadata statements it sends
-- when a user connects and browses a schema (database list, server information, data types, execution
-- context, schemas, roles, tables with comments, columns, inheritance, constraints, indexes,
-- statistics). Not captured from a running client (no desktop Java on the build machines): written out
-- from github.com/dbeaver/dbeaver at tag 24.2.3, plugins/org.jkiss.dbeaver.ext.postgresql/src/org/jkiss/
-- dbeaver/ext/postgresql/: model/PostgreDataSource.java (prepareReadDatabaseListStatement with the
-- default settings — no templates, no unavailable databases, the connection's database added back —,
-- initialize, collectObjectStatistics), PostgreUtils.getQueryForSystemColumnChecking, model/
-- PostgreDatabase.java (data type cache for a server >= 10 without "read all types", RoleCache,
-- SchemaCache, getDescription), model/PostgreExecutionContext.java (refreshDefaults), model/
-- PostgreSchema.java (TableCache lookup and children statements, ConstraintCache, IndexCache,
-- inheritance and statistics statements), model/PostgreTable.java and PostgreTableReal.java (one
-- table's inheritance and statistics). DBeaver binds its parameters through pgjdbc; here they are
-- inlined: the database "mesh", the schema sales (oid 1699207272) and the table sales.orders (oid
-- 1776090434), the oids meshgate derives from those names (src/catalog/oids.rs). The projections
-- `x.oid,x.*` return a column named oid twice, as PostgreSQL allows. Replayed in order by
-- tests/it/corpus.rs; answers checked by tests/it/bi_catalogs.rs.
SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE 1 = 1 AND datallowconn AND NOT datistemplate OR db.datname ='mesh'
ORDER BY db.datname
-- next
SELECT current_database()
-- next
SELECT version()
-- next
SELECT * FROM pg_catalog.pg_enum WHERE 1<>1 LIMIT 1
-- next
SELECT reltype FROM pg_catalog.pg_class WHERE 1<>1 LIMIT 1
-- next
SELECT t.oid,t.*,c.relkind,format_type(nullif(t.typbasetype, 0), t.typtypmod) as base_type_name, d.description
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_type et ON et.oid=t.typelem 
LEFT OUTER JOIN pg_catalog.pg_class c ON c.oid=t.typrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON t.oid=d.objoid
WHERE t.typname IS NOT NULL
AND (c.relkind IS NULL OR c.relkind = 'c') AND (et.typcategory IS NULL OR et.typcategory <> 'C')
-- next
SELECT current_schema(),session_user
-- next
SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname
-- next
SHOW search_path
-- next
select description from pg_shdescription join pg_database on objoid = pg_database.oid where datname = 'mesh'
-- next
SELECT a.oid,a.*,pd.description FROM pg_catalog.pg_roles a 
left join pg_catalog.pg_shdescription pd on a.oid = pd.objoid
ORDER BY a.rolname
-- next
SELECT c.oid,c.*,d.description,pg_catalog.pg_get_expr(c.relpartbound, c.oid) as partition_expr,  pg_catalog.pg_get_partkeydef(c.oid) as partition_key 
FROM pg_catalog.pg_class c
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_class'::regclass
WHERE c.relnamespace=1699207272 AND c.relkind not in ('i','I','c')
-- next
SELECT i.inhrelid relid, pc.relnamespace parent_ns, pc.oid parent_oid, i.inhseqno
FROM pg_catalog.pg_inherits i, pg_class rc, pg_class pc
WHERE rc.oid=i.inhrelid AND rc.relnamespace=1699207272 AND pc.oid=i.inhparent
-- next
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.relnamespace=1699207272
ORDER BY a.attnum
-- next
SELECT c.relname,a.*,pg_catalog.pg_get_expr(ad.adbin, ad.adrelid, true) as def_value,dsc.description,dep.objid
FROM pg_catalog.pg_attribute a
INNER JOIN pg_catalog.pg_class c ON (a.attrelid=c.oid)
LEFT OUTER JOIN pg_catalog.pg_attrdef ad ON (a.attrelid=ad.adrelid AND a.attnum = ad.adnum)
LEFT OUTER JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)
LEFT OUTER JOIN pg_depend dep on dep.refobjid = a.attrelid AND dep.deptype = 'i' and dep.refobjsubid = a.attnum and dep.classid = dep.refclassid
WHERE NOT a.attisdropped AND c.relkind not in ('i','I','c') AND c.oid=1776090434
ORDER BY a.attnum
-- next
SELECT i.*,c.relnamespace FROM pg_catalog.pg_inherits i,pg_catalog.pg_class c WHERE i.inhrelid=1776090434 AND c.oid=i.inhparent ORDER BY i.inhseqno
-- next
SELECT c.oid,c.*,t.relname as tabrelname,rt.relnamespace as refnamespace,d.description, case when c.contype='c' then "substring"(pg_get_constraintdef(c.oid), 7) else null end consrc_copy
FROM pg_catalog.pg_constraint c
INNER JOIN pg_catalog.pg_class t ON t.oid=c.conrelid
LEFT OUTER JOIN pg_catalog.pg_class rt ON rt.oid=c.confrelid
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=c.oid AND d.objsubid=0 AND d.classoid='pg_constraint'::regclass
WHERE c.conrelid=1776090434
ORDER BY c.oid
-- next
SELECT i.*,i.indkey as keys,c.relname,c.relnamespace,c.relam,c.reltablespace,tc.relname as tabrelname,dsc.description,pg_catalog.pg_get_expr(i.indpred, i.indrelid) as pred_expr,pg_catalog.pg_get_expr(i.indexprs, i.indrelid, true) as expr,pg_catalog.pg_relation_size(i.indexrelid) as index_rel_size,pg_catalog.pg_stat_get_numscans(i.indexrelid) as index_num_scans
FROM pg_catalog.pg_index i
INNER JOIN pg_catalog.pg_class c ON c.oid=i.indexrelid
INNER JOIN pg_catalog.pg_class tc ON tc.oid=i.indrelid
LEFT OUTER JOIN pg_catalog.pg_description dsc ON i.indexrelid=dsc.objoid
WHERE  i.indrelid=1776090434 ORDER BY c.relname
-- next
SELECT DISTINCT connamespace FROM pg_catalog.pg_constraint WHERE confrelid=1776090434
-- next
select pg_catalog.pg_total_relation_size(1776090434) as total_rel_size,pg_catalog.pg_relation_size(1776090434) as rel_size
-- next
select c.oid,pg_catalog.pg_total_relation_size(c.oid) as total_rel_size,pg_catalog.pg_relation_size(c.oid) as rel_size
FROM pg_class c
WHERE c.relnamespace=1699207272
-- next
SELECT db.datname,pg_database_size(db.oid) FROM pg_catalog.pg_database db WHERE db.oid=(SELECT oid FROM pg_catalog.pg_database WHERE datname = 'mesh')
