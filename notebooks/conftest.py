"""Small sizes for the notebooks when the test suite runs them (nbval); humans get full sizes."""

import os

# Each notebook reads its size from these; an explicit value in the environment wins.
SMALL_SIZES = {
    "AILAB_NB_ITEMS": "3000",
    "AILAB_NB_QUICK": "1",
    # 06: an A/B of HEAD~1 and HEAD with the smoke suite, a few hundred items, 3 rounds.
    "AILAB_NB_AB_GROUP": "smoke",
    "AILAB_NB_AB_ITEMS": "300",
    "AILAB_NB_AB_ROUNDS": "3",
}
for name, value in SMALL_SIZES.items():
    os.environ.setdefault(name, value)
