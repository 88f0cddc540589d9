"""The load benchmark: a classroom of real Streamlit sessions drawing digits on one server at once.

``python -m capsviz.bench.load`` (or ``python -m capsviz.bench_load``) runs it (cli). The modules:

- server: the served process (``streamlit run`` with counters: serve_main, TIMED_SECTIONS) and serve_app;
- client: Streamlit's websocket protocol, as the page speaks it;
- drawings: the scripted drawings the sessions submit, with the answers the app must give;
- sessions: one student each, opening the page and drawing on a schedule, each answer checked;
- sampling: the server's RSS and CPU time from /proc, sampled during a run;
- summaries: latency quantiles, server counters, RSS over drawings, errors, the machine;
- runs: many sessions at once (run_load, run_sweep) and many drawings for memory (run_memory);
- profiling: where one rerun's time goes (run_profile); report: the results as rows and tables.
"""
