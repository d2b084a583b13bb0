"""The Kaplan-Meier curve of mothers' returns, by case type, computed by lifelines from the Parquet
files directly (pyarrow and pandas; no fjq code): the oracle for `return_curve`.

Usage: km_oracle.py DATA_DIR COVERAGE_END HORIZON_DAYS; prints one JSON object:
  {case_type: [{day, at_risk, returns, censored, survival, lower_95, upper_95}, ...]}
one row per day on which someone returned or was censored, up to the horizon.

A mother's entries are the start dates of her cases of that type (a case she is a party to as
mother); the first is the index, the next later distinct date the return. With no return, or a
return after the coverage end, she is censored at the coverage end; a mother whose first entry
is after the coverage end is not observed.
"""
import json
import sys

import pandas as pd
import pyarrow.dataset as ds
from lifelines import KaplanMeierFitter


def main() -> None:
    data, end, horizon = sys.argv[1], pd.Timestamp(sys.argv[2]), int(sys.argv[3])
    people = ds.dataset(f"{data}/people", format="parquet").to_table(
        columns=["person_id", "case_id", "relationship_to_child"]).to_pandas()
    cases = ds.dataset(f"{data}/cases", format="parquet").to_table(
        columns=["case_id", "case_type", "start_date"]).to_pandas()
    mothers = people[people["relationship_to_child"] == "mother"]
    entries = mothers.merge(cases, on="case_id")[["case_type", "person_id", "start_date"]]
    entries = entries.dropna()
    entries["start_date"] = pd.to_datetime(entries["start_date"])
    out = {}
    for case_type, group in entries.groupby("case_type"):
        durations, observed = [], []
        for _, dates in group.groupby("person_id")["start_date"]:
            distinct = sorted(set(dates))
            first = distinct[0]
            if first > end:
                continue
            if len(distinct) > 1 and distinct[1] <= end:
                durations.append((distinct[1] - first).days)
                observed.append(1)
            else:
                durations.append((end - first).days)
                observed.append(0)
        kmf = KaplanMeierFitter().fit(durations, observed)
        table = kmf.event_table
        survival = kmf.survival_function_.iloc[:, 0]
        interval = kmf.confidence_interval_
        rows = []
        for day, row in table.iterrows():
            if row["removed"] == 0 or day > horizon:
                continue
            rows.append({
                "day": int(day),
                "at_risk": int(row["at_risk"]),
                "returns": int(row["observed"]),
                "censored": int(row["censored"]),
                "survival": float(survival.loc[day]),
                "lower_95": float(interval.iloc[:, 0].loc[day]),
                "upper_95": float(interval.iloc[:, 1].loc[day]),
            })
        out[str(case_type)] = rows
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
