"""Reads wattswarm's Parquet output with pyarrow, DuckDB and Polars and prints what each
saw, as JSON: the parts' schema, row count, kWh sum and a group aggregate, and the
household_day file. The Rust test compares it with results/. Usage: read_parquet.py OUT"""
import glob, json, sys

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq

out = sys.argv[1]
parts = f"{out}/parquet"

table = ds.dataset(parts, format="parquet").to_table()
schema = {f.name: str(f.type) for f in table.schema}
pa_rows = table.num_rows
pa_nulls = table.column("kwh").null_count

con = duckdb.connect()
d_rows, d_sum, d_hh = con.execute(
    f"SELECT count(*), round(sum(kwh) * 1000000), count(DISTINCT lclid) FROM read_parquet('{parts}/*.parquet')").fetchone()
d_groups = con.execute(
    f"""SELECT acorn_grouped, strftime(ts, '%Y-%m') AS month, count(*), count(kwh), count(DISTINCT lclid)
        FROM read_parquet('{parts}/*.parquet') GROUP BY ALL ORDER BY ALL""").fetchall()

p = pl.scan_parquet(f"{parts}/*.parquet").select(pl.len().alias("rows"), pl.col("kwh").null_count().alias("nulls")).collect()
hd = pl.read_parquet(f"{out}/results/household_day.parquet")

# Row-group statistics that let a reader skip row groups: lclid's min and max must be
# there and must be the row group's own.
row_groups, bounded = 0, 0
for f in sorted(glob.glob(f"{parts}/*.parquet")):
    pf = pq.ParquetFile(f)
    for i in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(i)
        stats = {rg.column(j).path_in_schema: rg.column(j).statistics for j in range(rg.num_columns)}
        ids = pf.read_row_group(i, columns=["lclid"]).column(0).to_pylist()
        row_groups += 1
        st = stats["lclid"]
        if st is not None and st.has_min_max and (st.min, st.max) == (min(ids), max(ids)) and stats["ts"].has_min_max:
            bounded += 1
one = con.execute(f"SELECT min(lclid) FROM read_parquet('{parts}/*.parquet')").fetchone()[0]
one_rows = con.execute(f"SELECT count(kwh) FROM read_parquet('{parts}/*.parquet') WHERE lclid = ?", [one]).fetchone()[0]

print(json.dumps({
    "row_groups": row_groups,
    "row_groups_with_lclid_and_ts_bounds": bounded,
    "one_household": one,
    "one_household_readings": one_rows,
    "schema": schema,
    "pyarrow_rows": pa_rows,
    "pyarrow_nulls": pa_nulls,
    "duckdb_rows": d_rows,
    "duckdb_kwh_micro": int(d_sum),
    "duckdb_households": d_hh,
    "duckdb_groups": [list(g) for g in d_groups],
    "polars_rows": p["rows"][0],
    "polars_nulls": p["nulls"][0],
    "household_day_rows": hd.height,
    "household_day_columns": hd.columns,
    "household_day_readings": int(hd["readings"].sum()),
}))
