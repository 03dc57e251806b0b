"""Small sizes for the notebooks when the test suite runs them (nbval); humans get full sizes."""

import os

# Each notebook reads its size from these; an explicit value in the environment wins.
SMALL_SIZES = {
    "AILAB_NB_ITEMS": "3000",
    "AILAB_NB_QUICK": "1",
}
for name, value in SMALL_SIZES.items():
    os.environ.setdefault(name, value)
