"""The original jupdb README's flow, driven by examples/demo.ipynb: this script
pauses with ``a = 10``; from the notebook you look at it, set ``a = 42``,
continue, and it prints 62."""

import jupdb


def main() -> None:
    a = 10
    b = 20
    jupdb.set_trace()  # pauses here until a client continues
    print(f"a + b = {a + b}")


if __name__ == "__main__":
    main()
