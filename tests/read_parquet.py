"""Reads wattswarm's Parquet output with pyarrow, DuckDB and Polars and prints what each
saw, as JSON: the parts' schema, row count, kWh sum and a group aggregate, and the
household_day file. The Rust test compares it with results/. Usage: read_parquet.py OUT"""
import json, sys

import duckdb
import polars as pl
import pyarrow.dataset as ds

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

print(json.dumps({
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
