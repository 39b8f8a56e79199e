"""Which CSV reader for the Open Payments import? The measurement behind the choice.

    .venv/bin/python bench/openpayments_readers.py [FILE]

Reads a CMS-shaped General file (default: the 100 MB one ``make bench`` generates; made
here if missing) with Python's ``csv``, pyarrow's streaming reader and DuckDB, each in a
fresh process, keeping the rows of one NPI as the import does. pyarrow and DuckDB are
not dependencies of the project: install them in the virtualenv to compare
(``.venv/bin/pip install pyarrow duckdb``); a reader that is missing is skipped.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NPI_COLUMN = "Covered_Recipient_NPI"
COLUMNS = [
    NPI_COLUMN, "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID",
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name",
    "Total_Amount_of_Payment_USDollars", "Date_of_Payment",
    "Nature_of_Payment_or_Transfer_of_Value", "Program_Year", "Record_ID",
]
READERS = ("csv", "pyarrow", "duckdb")


def read(which: str, path: str, npis: set[str]) -> tuple[int, int]:
    """(rows read, rows kept) of ``path`` with reader ``which``."""
    rows = kept = 0
    if which == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            index = next(reader).index(NPI_COLUMN)
            for row in reader:
                rows += 1
                kept += row[index] in npis
    elif which == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv

        with open(path, "rb") as handle:
            reader = pa_csv.open_csv(
                handle, read_options=pa_csv.ReadOptions(block_size=8 << 20),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=COLUMNS, column_types={c: pa.string() for c in COLUMNS}))
            wanted = pa.array(sorted(npis))
            for batch in reader:
                rows += batch.num_rows
                kept += batch.filter(pc.is_in(batch.column(NPI_COLUMN), value_set=wanted)).num_rows
    else:
        import duckdb

        listed = ", ".join(f"'{n}'" for n in sorted(npis))
        source = f"read_csv('{path}', all_varchar=true, header=true)"
        connection = duckdb.connect()
        kept, rows = connection.execute(
            f"SELECT count(*) FILTER (WHERE {NPI_COLUMN} IN ({listed})), count(*) FROM {source}"  # noqa: S608
        ).fetchone()
    return rows, kept


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        which, path, npi = sys.argv[2:5]
        began = time.perf_counter()
        rows, kept = read(which, path, {npi})
        seconds = time.perf_counter() - began
        megabytes = os.path.getsize(path) / 2**20
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {which:<8} {seconds:6.2f} s {megabytes / seconds:7.1f} MB/s "
              f"{rows / seconds:9,.0f} rows/s  peak RSS {peak:5.0f} MB  ({rows:,} rows, {kept} kept)")
        return 0
    from openpayments_bench import _file, _npis

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else _file(100)
    print(f"{path} ({path.stat().st_size / 2**20:,.0f} MB), {os.cpu_count()} CPUs")
    for which in READERS:
        if which != "csv":
            try:
                __import__(which)
            except ImportError:
                print(f"  {which:<8} not installed: skipped")
                continue
        subprocess.run([sys.executable, __file__, "--child", which, str(path), _npis()[0]],  # noqa: S603
                       check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
