"""Work items <-> GitHub issues: the sync and the GitHub simulator it is measured against."""
