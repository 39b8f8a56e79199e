"""Long work off the request path: jobs run by a Huey worker, with progress pages.

``queue``: the Huey instance (SQLite in the instance folder, Redis with ``REDIS_URL``,
immediate in tests) and its tasks, periodic ones included. ``operations``: starting a
job (one of a kind per meeting at a time), claiming it (one worker wins), the heartbeat,
progress, finishing, taking over stalled jobs. ``reminders``, ``programme``, ``records``:
the work of each kind, calling the features' own operations. ``views``: the job page
(refreshes itself), a meeting's jobs, the result download.
"""
