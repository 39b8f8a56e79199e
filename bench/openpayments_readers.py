import csv, sys, time, resource
path = sys.argv[2]; which = sys.argv[1]
NPIS = {"1234567893"}
COLS = ["Covered_Recipient_NPI","Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID","Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name","Total_Amount_of_Payment_USDollars","Date_of_Payment","Nature_of_Payment_or_Transfer_of_Value","Program_Year","Record_ID"]
t = time.time(); kept = 0; rows = 0
if which == "csv":
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r); i = header.index("Covered_Recipient_NPI")
        for row in r:
            rows += 1
            if row[i] in NPIS: kept += 1
elif which == "csvpre":
    # prefilter: only parse lines containing an NPI substring (lines may hold quoted newlines)
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r); i = header.index("Covered_Recipient_NPI")
        for row in r:
            rows += 1
            if row[i] in NPIS: kept += 1
elif which == "arrow":
    import pyarrow as pa, pyarrow.csv as pc_csv, pyarrow.compute as pc
    f = open(path, "rb")
    reader = pc_csv.open_csv(f, read_options=pc_csv.ReadOptions(block_size=8<<20),
        parse_options=pc_csv.ParseOptions(newlines_in_values=True),
        convert_options=pc_csv.ConvertOptions(include_columns=COLS, column_types={c: pa.string() for c in COLS}))
    vs = pa.array(sorted(NPIS))
    for batch in reader:
        rows += batch.num_rows
        m = pc.is_in(batch.column("Covered_Recipient_NPI"), value_set=vs)
        kept += batch.filter(m).num_rows
elif which == "duckdb":
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads=2")
    res = con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar=true, header=true)").fetchone()
    rows = res[0]
    kept = con.execute(f"SELECT count(*) FROM read_csv('{path}', all_varchar=true, header=true) WHERE Covered_Recipient_NPI IN ('1234567893')").fetchone()[0]
dt = time.time() - t
import os
mb = os.path.getsize(path) / 2**20
print(f"{which}: {dt:.2f}s {mb/dt:.1f} MB/s {rows/dt:.0f} rows/s kept={kept} maxrss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:.0f}MB")
