"""Work items <-> GitHub issues: the sync and the GitHub simulator it is measured against.

Public API (import from the modules; this package stays light so the simulator loads alone):

* ``ailab.sync.engine``: ``run_sync(engine, config, options, *, clock, transport, progress)``
  (async) and ``sync(...)`` -> ``SyncSummary``; ``SyncOptions(dry_run, pull, prefer_remote,
  limit, full)``.
* ``ailab.sync.config``: ``SyncConfig.from_settings(settings)``, ``parse_repo``, ``repo_from_url``.
* ``ailab.sync.client``: ``GitHubClient`` (REST + GraphQL, lanes, retries, clean errors).
* ``ailab.testing.sync_harness``: ``SimulatedGitHub`` (in-process), ``serve``/``serve_subprocess``
  (loopback), ``compare_remote`` (one issue per item, remote equal to local).
* ``ailab.sync.simulator``: the GitHub simulator (``create_app``).
"""
