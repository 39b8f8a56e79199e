"""Open Payments files in the layout CMS publishes, made up: for tests, the demo and ``make bench``.

The headers are the public column names of the General, Research and Ownership files
(program year 2023), in CMS's order; the values are invented. ``write_file`` writes one
file of any size, with a share of its rows for given NPIs and the rest for NPIs nobody
in the database holds, as in a real national file.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path

_RECIPIENT = [
    "Covered_Recipient_Profile_ID", "Covered_Recipient_NPI", "Covered_Recipient_First_Name",
    "Covered_Recipient_Middle_Name", "Covered_Recipient_Last_Name", "Covered_Recipient_Name_Suffix",
    "Recipient_Primary_Business_Street_Address_Line1",
    "Recipient_Primary_Business_Street_Address_Line2", "Recipient_City", "Recipient_State",
    "Recipient_Zip_Code", "Recipient_Country", "Recipient_Province", "Recipient_Postal_Code",
    *[f"Covered_Recipient_Primary_Type_{i}" for i in range(1, 7)],
    *[f"Covered_Recipient_Specialty_{i}" for i in range(1, 7)],
    *[f"Covered_Recipient_License_State_code{i}" for i in range(1, 6)],
]
_MANUFACTURER = [
    "Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name",
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID",
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name",
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State",
    "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country",
]
_PRODUCTS = [
    name
    for i in range(1, 6)
    for name in (
        f"Covered_or_Noncovered_Indicator_{i}",
        f"Indicate_Drug_or_Biological_or_Device_or_Medical_Supply_{i}",
        f"Product_Category_or_Therapeutic_Area_{i}",
        f"Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_{i}",
        f"Associated_Drug_or_Biological_NDC_{i}",
        f"Associated_Device_or_Medical_Supply_PDI_{i}",
    )
]

GENERAL_COLUMNS = [
    "Change_Type", "Covered_Recipient_Type", "Teaching_Hospital_CCN", "Teaching_Hospital_ID",
    "Teaching_Hospital_Name", *_RECIPIENT, *_MANUFACTURER,
    "Total_Amount_of_Payment_USDollars", "Date_of_Payment",
    "Number_of_Payments_Included_in_Total_Amount", "Form_of_Payment_or_Transfer_of_Value",
    "Nature_of_Payment_or_Transfer_of_Value", "City_of_Travel", "State_of_Travel",
    "Country_of_Travel", "Physician_Ownership_Indicator",
    "Third_Party_Payment_Recipient_Indicator",
    "Name_of_Third_Party_Entity_Receiving_Payment_or_Transfer_of_Value", "Charity_Indicator",
    "Third_Party_Equals_Covered_Recipient_Indicator", "Contextual_Information",
    "Delay_in_Publication_Indicator", "Record_ID", "Dispute_Status_for_Publication",
    "Related_Product_Indicator", *_PRODUCTS, "Program_Year", "Payment_Publication_Date",
]

_INVESTIGATORS = [
    name
    for i in range(1, 6)
    for name in (
        f"Principal_Investigator_{i}_Profile_ID", f"Principal_Investigator_{i}_NPI",
        f"Principal_Investigator_{i}_First_Name", f"Principal_Investigator_{i}_Middle_Name",
        f"Principal_Investigator_{i}_Last_Name", f"Principal_Investigator_{i}_Name_Suffix",
        f"Principal_Investigator_{i}_Business_Street_Address_Line1",
        f"Principal_Investigator_{i}_City", f"Principal_Investigator_{i}_State",
        f"Principal_Investigator_{i}_Zip_Code", f"Principal_Investigator_{i}_Country",
        f"Principal_Investigator_{i}_Primary_Type_1",
        f"Principal_Investigator_{i}_Specialty_1",
        f"Principal_Investigator_{i}_License_State_Code1",
    )
]

RESEARCH_COLUMNS = [
    "Change_Type", "Covered_Recipient_Type", "Noncovered_Recipient_Entity_Name",
    "Teaching_Hospital_CCN", "Teaching_Hospital_ID", "Teaching_Hospital_Name", *_RECIPIENT,
    *_INVESTIGATORS, *_MANUFACTURER, "Related_Product_Indicator", *_PRODUCTS,
    "Total_Amount_of_Payment_USDollars", "Date_of_Payment",
    "Form_of_Payment_or_Transfer_of_Value", *[f"Expenditure_Category{i}" for i in range(1, 7)],
    "Preclinical_Research_Indicator", "Delay_in_Publication_Indicator", "Name_of_Study",
    "Dispute_Status_for_Publication", "Record_ID", "Program_Year", "Payment_Publication_Date",
    "ClinicalTrials_Gov_Identifier", "Research_Information_Link", "Context_of_Research",
]

OWNERSHIP_COLUMNS = [
    "Change_Type", "Physician_Profile_ID", "Physician_NPI", "Physician_First_Name",
    "Physician_Middle_Name", "Physician_Last_Name", "Physician_Name_Suffix",
    "Recipient_Primary_Business_Street_Address_Line1",
    "Recipient_Primary_Business_Street_Address_Line2", "Recipient_City", "Recipient_State",
    "Recipient_Zip_Code", "Recipient_Country", "Recipient_Province", "Recipient_Postal_Code",
    "Physician_Primary_Type", "Physician_Specialty", "Record_ID", "Program_Year",
    "Total_Amount_Invested_USDollars", "Value_of_Interest", "Terms_of_Interest",
    *_MANUFACTURER, "Interest_Held_by_Physician_or_an_Immediate_Family_Member",
    "Payment_Publication_Date",
]

COLUMNS = {"general": GENERAL_COLUMNS, "research": RESEARCH_COLUMNS,
           "ownership": OWNERSHIP_COLUMNS}

NATURES = [
    "Food and Beverage", "Consulting Fee", "Travel and Lodging", "Education",
    "Compensation for services other than consulting, including serving as faculty or as a "
    "speaker at a venue other than a continuing education program",
    "Royalty or License", "Honoraria", "Grant",
]
MANUFACTURERS = [
    ("100000000186", "Medtronic USA, Inc."), ("100000000232", "Stryker Corporation"),
    ("100000005425", "DePuy Synthes Products, Inc"), ("100000010694", "Globus Medical, Inc."),
    ("100000000228", "Pfizer Inc."), ("100000000067", "Zimmer Biomet Holdings, Inc."),
]


def npi_with_check_digit(first_nine: str) -> str:
    """A valid NPI from nine digits (Luhn over 80840 + the nine digits)."""
    digits = [int(c) for c in "80840" + first_nine]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return first_nine + str((10 - total % 10) % 10)


def row_for(kind: str, npi: str, *, manufacturer: tuple[str, str], amount: str, paid_on: date,
            nature: str = "Consulting Fee", record_id: str = "1", first: str = "Alex",
            last: str = "Doe", extra: dict | None = None) -> dict:
    """One row of a ``kind`` file as a dict of column → text (unnamed columns left empty)."""
    cms_id, name = manufacturer
    row = {
        "Change_Type": "UNCHANGED", "Record_ID": record_id, "Program_Year": str(paid_on.year),
        "Payment_Publication_Date": "01/30/2025",
        "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_ID": cms_id,
        "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Name": name,
        "Submitting_Applicable_Manufacturer_or_Applicable_GPO_Name": name,
        "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_State": "MN",
        "Applicable_Manufacturer_or_Applicable_GPO_Making_Payment_Country": "United States",
        "Recipient_Primary_Business_Street_Address_Line1": "1 Main Street, Suite 200",
        "Recipient_City": "Minneapolis", "Recipient_State": "MN", "Recipient_Zip_Code": "55455",
        "Recipient_Country": "United States",
    }
    if kind == "ownership":
        row.update({"Physician_NPI": npi, "Physician_First_Name": first,
                    "Physician_Last_Name": last, "Value_of_Interest": amount,
                    "Total_Amount_Invested_USDollars": amount, "Terms_of_Interest": "Stock",
                    "Physician_Primary_Type": "Medical Doctor",
                    "Interest_Held_by_Physician_or_an_Immediate_Family_Member": "Physician Covered Recipient"})
    else:
        row.update({
            "Covered_Recipient_Type": "Covered Recipient Physician",
            "Covered_Recipient_NPI": npi, "Covered_Recipient_First_Name": first,
            "Covered_Recipient_Last_Name": last, "Covered_Recipient_Primary_Type_1": "Medical Doctor",
            "Covered_Recipient_Specialty_1": "Allopathic & Osteopathic Physicians|Orthopaedic Surgery",
            "Total_Amount_of_Payment_USDollars": amount,
            "Date_of_Payment": paid_on.strftime("%m/%d/%Y"),
            "Form_of_Payment_or_Transfer_of_Value": "Cash or cash equivalent",
            "Related_Product_Indicator": "Yes",
            "Covered_or_Noncovered_Indicator_1": "Covered",
            "Indicate_Drug_or_Biological_or_Device_or_Medical_Supply_1": "Device",
            "Product_Category_or_Therapeutic_Area_1": "Orthopedics",
            "Name_of_Drug_or_Biological_or_Device_or_Medical_Supply_1": "INFUSE, BONE GRAFT",
        })
        if kind == "general":
            row.update({"Nature_of_Payment_or_Transfer_of_Value": nature,
                        "Number_of_Payments_Included_in_Total_Amount": "1",
                        "Physician_Ownership_Indicator": "No",
                        "Third_Party_Payment_Recipient_Indicator": "No Third Party Payment",
                        "Delay_in_Publication_Indicator": "No",
                        "Dispute_Status_for_Publication": "No",
                        "Contextual_Information": "Advisory board, \"spine\" programme; day 2"})
        else:
            row.update({"Name_of_Study": "A randomised trial of lumbar fusion, phase III",
                        "Expenditure_Category1": "Research",
                        "Preclinical_Research_Indicator": "No",
                        "Delay_in_Publication_Indicator": "No",
                        "Dispute_Status_for_Publication": "No",
                        "Context_of_Research": "Multi-site study, site 4"})
    row.update(extra or {})
    return row


def write_rows(path: Path, kind: str, rows: Iterable[dict], *, columns: list[str] | None = None
               ) -> None:
    """Write ``rows`` (dicts) under the CMS header of ``kind`` (or ``columns``), quoted as CMS does."""
    columns = columns or COLUMNS[kind]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, quoting=csv.QUOTE_ALL, restval="",
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_file(path: Path, target_bytes: int, *, kind: str = "general", known_npis: list[str] = (),
               known_share: float = 0.001, seed: int = 18, first_day: date = date(2023, 1, 1)
               ) -> int:
    """A ``kind`` file of about ``target_bytes``: most rows for NPIs nobody holds, ``known_share``
    of them for ``known_npis``. Returns the number of rows written. Memory stays small."""
    rng = random.Random(seed)  # noqa: S311 (made-up data, reproducible by seed)
    columns = COLUMNS[kind]
    written = 0
    rows = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, quoting=csv.QUOTE_ALL, restval="",
                                extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        while written < target_bytes:
            batch = []
            for _ in range(2000):
                if known_npis and rng.random() < known_share:
                    npi = rng.choice(known_npis)
                else:
                    npi = npi_with_check_digit(f"{rng.randrange(10**8, 10**9)}")
                batch.append(row_for(
                    kind, npi, manufacturer=rng.choice(MANUFACTURERS),
                    amount=f"{rng.randrange(500, 500000) / 100:.2f}",
                    paid_on=first_day + timedelta(days=rng.randrange(365)),
                    nature=rng.choice(NATURES), record_id=str(100000000 + rows),
                    first="Jordan", last=rng.choice(["O'Neil", "Smith, Jr.", "García", "Lee"]),
                ))
                rows += 1
            writer.writerows(batch)
            written = out.tell()
    return rows
