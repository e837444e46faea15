"""A small pandas pipeline that pauses mid-way, driven by examples/demo.ipynb:
look at the DataFrame, plot a column, fix the missing values from the notebook,
go on; it pauses once more for the live panel."""

import numpy as np
import pandas as pd

import jupdb


def load() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    sales = rng.normal(100, 15, size=28).round(1)
    sales[[4, 11, 23]] = np.nan  # a sensor that failed on three days
    days = pd.date_range("2026-11-01", periods=28, freq="D")
    return pd.DataFrame({"day": days, "store": ["north", "south"] * 14, "sales": sales})


def main() -> None:
    df = load()
    df["week"] = df["day"].dt.isocalendar().week
    jupdb.set_trace()  # look at df, fix it, go on
    print(f"rows with missing sales: {df['sales'].isna().sum()}")
    totals = df.groupby("store")["sales"].sum().round(1)
    print(totals.to_string())
    jupdb.set_trace()  # the panel
    for store, total in totals.items():
        share = total / totals.sum()
        print(f"{store}: {share:.1%}")


if __name__ == "__main__":
    main()
