"""Bad input and faults: every one is one line and exit code 2 (or a named exception), before anything is written.

The table covers configurations, sweep files, LETOR files, output folders,
checkpoints and API calls.  Command-line cases run ``clickloop.cli.main`` in
this process (a subprocess per row would cost seconds each); none of them runs
an experiment, so the whole table costs a few seconds.
"""

import bz2
import gzip
import re
from pathlib import Path

import pytest

from clickloop import cli

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "lightgbm-lambdarank" / "rank.train"


def letor(lines):
    return "".join(line + "\n" for line in lines)


GOOD_LETOR = letor([f"{(q + d) % 3} qid:{q} 1:{d * 0.1:.1f} 2:{q * 0.2:.1f}" for q in range(1, 31) for d in range(12)])

# (id, files to write into the work folder {name: text or bytes}, argv, expected message fragment)
CASES = [
    # ---------------------------------------------------------------- configuration keys and values
    ("unknown key", {}, ["--set", "loop.roundz=3"], "unknown key 'loop.roundz'; allowed keys of [loop]"),
    ("unknown section", {}, ["--set", "nosuch.key=1"], "unknown key 'nosuch'"),
    ("int as string", {}, ["--set", "loop.rounds='ten'"], "loop.rounds must be an integer, got str 'ten'"),
    ("float for int", {}, ["--set", "loop.rounds=2.5"], "loop.rounds must be an integer, got float 2.5"),
    ("bool for int", {}, ["--set", "loop.rounds=true"], "loop.rounds must be an integer, got bool True"),
    ("int for bool", {}, ["--set", "output.save_logs=1"], "output.save_logs must be true or false"),
    ("list for number", {}, ["--set", "click_model.eta=[1]"], "click_model.eta must be a number, got list [1]"),
    ("nan", {}, ["--set", "click_model.eta=nan"], "click_model.eta must be a finite number"),
    ("inf", {}, ["--set", "click_model.noise=inf"], "click_model.noise must be a finite number"),
    ("eta negative", {}, ["--set", "click_model.eta=-1"], "click_model.eta must be >= 0.0 and <= 10.0, got -1.0"),
    ("eta too large", {}, ["--set", "click_model.eta=11"], "click_model.eta must be <= 10.0"),
    ("noise probability > 1", {}, ["--set", "click_model.noise=1.5"], "click_model.noise must be <= 1.0"),
    ("noise probability < 0", {}, ["--set", "click_model.noise=-0.1"], "click_model.noise must be >= 0.0"),
    ("epsilon probability > 1", {}, ["--set", "policy.epsilon=2"], "policy.epsilon must be <= 1.0"),
    ("epsilon probability < 0", {}, ["--set", "policy.epsilon=-0.5"], "policy.epsilon must be >= 0.0"),
    ("document_share > 1", {}, ["--set", "data.document_share=2"], "data.document_share must be <= 1.0"),
    ("query_fraction 0", {}, ["--set", "logger.query_fraction=0"], "logger.query_fraction must be > 0.0"),
    ("query_fraction > 1", {}, ["--set", "logger.query_fraction=1.5"], "logger.query_fraction must be <= 1.0"),
    ("test_fraction too large", {}, ["--set", "data.test_fraction=0.95"], "data.test_fraction must be <= 0.9"),
    ("label_noise negative", {}, ["--set", "data.label_noise=-1"], "data.label_noise must be >= 0.0"),
    ("k larger than the candidates", {}, ["--set", "policy.k=50"],
     "policy.k = 50 is larger than the smallest candidate list"),
    ("k zero", {}, ["--set", "policy.k=0"], "policy.k must be >= 1"),
    ("gate holdout rounds to no session", {}, ["--preset", "default", "--set", "loop.sessions_per_round=100",
                                              "--set", "deployment.holdout=0.004"],
     "deployment.holdout = 0.004 of loop.sessions_per_round = 100 keeps 0 sessions for the gate of naive_gated"),
    ("gate em theta without exploration", {}, ["--preset", "default", "--set", "deployment.theta=em",
                                               "--set", "deployment.explore=0"],
     "deployment.theta = 'em' estimates the theta of the gate of tower_gated from exploring gate sessions: it needs "
     "deployment.holdout > 0"),
    ("gate em theta of an estimating IPS without exploration", {},
     ["--set", 'variants.ipse.learner="ips"', "--set", 'variants.ipse.propensity="estimated"', "--set",
      'variants.ipse.gate="ope"', "--set", 'loop.variants=["logger","ipse"]', "--set", "deployment.theta=em",
      "--set", "deployment.explore=0"],
     "deployment.theta = 'em' estimates the theta of the gate of ipse from exploring gate sessions"),
    ("gate test unknown", {}, ["--set", "deployment.test=ab"], "deployment.test must be one of explore, split"),
    ("temperature zero", {}, ["--set", "policy.temperature=0"], "policy.temperature must be > 0.0"),
    ("policy kind", {}, ["--set", "policy.kind=greedy"], "policy.kind must be one of deterministic"),
    ("click model name", {}, ["--set", "click_model.name=bogus"], "click_model.name must be one of pbm"),
    ("click relevance mapping", {}, ["--set", "click_model.relevance=fuzzy"], "click_model.relevance must be one of"),
    ("eta for a model without one", {}, ["--set", "click_model.name='cascade'", "--set", "click_model.eta=2"],
     "click_model.eta applies to pbm, pbm_eye_tracking, trust_vardasbi, ubm only"),
    ("rounds zero", {}, ["--set", "loop.rounds=0"], "loop.rounds must be >= 1, got 0"),
    ("sessions zero", {}, ["--set", "loop.sessions_per_round=0"], "loop.sessions_per_round must be >= 100"),
    ("negative minimum examinations", {}, ["--set", "loop.engagement_min_examinations=-1"],
     "loop.engagement_min_examinations must be >= 0.0"),
    ("prior neither a number nor auto", {}, ["--set", "loop.engagement_prior=sometimes"],
     "loop.engagement_prior must be a number or one of 'auto', got str 'sometimes'"),
    ("too few sessions to fit", {}, ["--set", "loop.sessions_per_round=2"], "loop.sessions_per_round must be >= 100"),
    ("too few queries to fit", {}, ["--set", "data.n_queries=4"],
     "the served queries show 30 documents in their top policy.k = 10; a LightGBM learner needs at least 40"),
    ("affine without an affine click model", {}, ["--set", "click_model.name=dbn", "--set",
     'loop.variants=["logger","a"]', "--set", 'variants.a={learner="ips", affine=true}'],
     "variants.a.affine = true needs an affine click model (pbm, trust_*), not click_model.name = 'dbn'"),
    ("negative clip", {}, ["--set", 'loop.variants=["logger","a"]', "--set", 'variants.a={learner="ips", clip=-0.5}'],
     "variants.a.clip must be in [0, 1], 'auto', 'global' or -1 (auto), got -0.5"),
    ("learner given as a list", {}, ["--set", 'variants.x={learner=["ips"]}'], "variants.x.learner must be one of"),
    ("empty preset name", {}, ["--preset", ""], "unknown preset ''"),
    ("a bad --set seeds beside --seeds", {}, ["--set", "seeds=-5", "--seeds", "1"], "seeds must be >= 1"),
    ("--jobs beyond any machine", {}, ["--jobs", "99999999999999999999"], "expected at most 1024 worker processes"),
    ("threads beyond any machine", {}, ["--set", "learner.num_threads=100000"], "learner.num_threads must be <= 1024"),
    ("boosting rounds without end", {}, ["--set", "learner.n_estimators=99999999999999999999"],
     "learner.n_estimators must be <= 100000"),
    ("window beyond int64", {}, ["--set", "loop.window=99999999999999999999"], "loop.window must be <= 1000000"),
    ("a table with a key twice", {}, ["--set", 'variants.x={learner="ips", learner="ips"}'],
     "--set variants.x: '{learner=\"ips\", learner=\"ips\"}' is not a valid TOML value (Duplicate inline table key"),
    ("saved logs beyond memory", {}, ["--set", "output.save_logs=true", "--set", "loop.sessions_per_round=1000000000"],
     "the run needs about"),
    ("kept session logs beyond memory", {}, ["--set", 'loop.variants=["lgbm_position"]', "--set",
     "lgbm_position.max_sessions=1000000000", "--set", "loop.sessions_per_round=100000000"], "the run needs about"),
    ("document share of 1", {}, ["--set", "data.document_share=1.0"], "data.document_share must be < 1, got 1.0"),
    ("--out with a name too long", {}, ["--out", "x/" + "a" * 300 + "/y"], "cannot create the folder"),
    ("--config with a name too long", {}, ["--config", "a" * 300], "cannot read config file"),
    ("data.path a folder", {"folder/x": ""}, ["--set", "data.source='letor'", "--set", "data.path='folder'"],
     "data.path 'folder' is not a regular file"),
    ("window negative", {}, ["--set", "loop.window=-1"], "loop.window must be >= 0"),
    ("engagement", {}, ["--set", "loop.engagement=clicks"], "loop.engagement must be one of none, ctr"),
    ("n_estimators zero", {}, ["--set", "learner.n_estimators=0"], "learner.n_estimators must be >= 1"),
    ("backend", {}, ["--set", "learner.backend=xgboost"], "learner.backend must be one of lightgbm, linear"),
    ("loss", {}, ["--set", "learner.loss=hinge"], "learner.loss must be one of softmax, logistic, squared"),
    ("docs_per_query reversed", {}, ["--set", "data.docs_per_query=[30, 20]"],
     "data.docs_per_query must be [low, high] with low <= high"),
    ("docs_per_query one", {}, ["--set", "data.docs_per_query=[1, 5]"], "data.docs_per_query must be [low, high]"),
    ("data source", {}, ["--set", "data.source=csv"], "data.source must be one of synthetic, letor"),
    ("letor without path", {}, ["--set", "data.source='letor'"], "data.path is required when data.source = 'letor'"),
    ("seeds zero in config", {}, ["--set", "seeds=0"], "seeds must be >= 1"),
    ("seeds too many", {}, ["--set", "seeds=20000"], "seeds must be <= 10000"),
    ("--seeds 10^12", {}, ["--seeds", "1000000000000"], "seeds must be <= 10000"),
    ("--seeds zero", {}, ["--seeds", "0"], "expected a positive integer, got 0"),
    ("--jobs zero", {}, ["--jobs", "0"], "expected a positive integer, got 0"),
    ("--set without =", {}, ["--set", "loop"], "--set expects key.path=value, got 'loop'"),
    ("--set empty key", {}, ["--set", "=3"], "--set expects key.path=value"),
    ("section as a scalar", {}, ["--set", "loop=3"], "[loop] must be a table"),
    # ---------------------------------------------------------------- variants
    ("variant not defined", {}, ["--set", "loop.variants=['naive', 'oracle']"],
     "loop.variants names 'oracle', which is neither a built-in variant"),
    ("variants empty", {}, ["--set", "loop.variants=[]"], "loop.variants must name at least one variant"),
    ("variants repeated", {}, ["--set", "loop.variants=['naive', 'naive']"], "loop.variants must not repeat a name"),
    ("variant name with a space", {}, ["--set", "loop.variants=['a b']"], "loop.variants must list variant names"),
    ("variant kind", {}, ["--set", "variants.x={learner = 'ipz'}"], "variants.x.learner must be one of naive, ips, dr"),
    ("variant without learner", {}, ["--set", "variants.x.clip=0.1"], "variants.x.learner is required"),
    ("variant parameter", {}, ["--set", "variants.x={learner = 'ips', clp = 0.1}"],
     "unknown key 'variants.x.clp'; allowed keys of [variants.x] (learner ips)"),
    ("variant value", {}, ["--set", "variants.x={learner = 'ips', clip = 2.0}"], "variants.x.clip must be <= 1.0"),
    ("variant named like a built-in", {}, ["--set", "variants.ips={learner = 'ips'}"],
     "[variants.ips]: 'ips' is a built-in variant"),
    ("variants a scalar", {}, ["--set", "variants=3"], "[variants] must be a table"),
    # ---------------------------------------------------------------- configuration files and presets
    ("unknown preset", {}, ["--preset", "nosuch"], "unknown preset 'nosuch'; choose one of default, smoke"),
    ("missing config file", {}, ["--config", "missing.toml"], "cannot read config file 'missing.toml'"),
    ("config is a folder", {"cfg.toml/x": ""}, ["--config", "cfg.toml"], "cannot read config file 'cfg.toml': it is a folder"),
    ("config not UTF-8", {"bad.toml": b'preset = "smoke"\n# caf\xe9\n'}, ["--config", "bad.toml"],
     "bad.toml:2: not UTF-8 text (byte 0xe9"),
    ("config not TOML", {"bad.toml": "[loop\nrounds = 3\n"}, ["--config", "bad.toml"], "bad.toml: not valid TOML"),
    ("preset a list", {"p.toml": 'preset = ["smoke"]\n'}, ["--config", "p.toml"],
     "p.toml: preset must be a preset name (a string), got list ['smoke']"),
    ("preset a table", {"p.toml": '[preset]\nname = "smoke"\n'}, ["--config", "p.toml"],
     "p.toml: preset must be a preset name (a string), got dict"),
    ("config section a scalar", {"s.toml": 'preset = "smoke"\nloop = 3\n'}, ["--config", "s.toml"],
     "[loop] must be a table"),
    # ---------------------------------------------------------------- resources
    ("sessions that would run for days", {}, ["--set", "loop.sessions_per_round=1000000000000"],
     "check loop.sessions_per_round, loop.rounds and the seeds, or pass --allow-long"),
    ("data too large for memory", {}, ["--set", "data.n_queries=2000000000"], "GiB are available"),
    # ---------------------------------------------------------------- data files
    ("letor missing", {}, ["--set", "data.source='letor'", "--set", "data.path='nowhere.txt'"],
     "data.path: no such file 'nowhere.txt'"),
    ("data.path on synthetic data", {}, ["--set", "data.path='rank.train'"],
     "data.path is read only with data.source = 'letor', not 'synthetic'"),
    ("letor one query", {"one.txt": letor(["1 qid:1 1:0.5", "0 qid:1 1:0.2"])}, "LETOR:one.txt", "the dataset has only 1 queries"),
    ("letor single-document queries", {"single.txt": letor([f"1 qid:{q} 1:0.{q}" for q in range(1, 40)])},
     "LETOR:single.txt", "query has two candidates"),
    ("letor features all constant", {"const.txt": letor([f"{(q + d) % 3} qid:{q} 1:1 2:0.5" for q in range(1, 21)
                                                           for d in range(12)])}, "LETOR:const.txt",
     "every feature has one value on the served queries"),
    ("letor labels above the grades", {"high.txt": GOOD_LETOR.replace("2 qid:", "7 qid:")}, "LETOR:high.txt",
     "labels go up to 7, but click_model.relevance = 'graded' maps grades 0..4 only"),
    ("letor feature index 10^7", {"big.txt": letor(["1 qid:1 10000000:0.5", "0 qid:1 1:0.2"])}, "LETOR:big.txt",
     "big.txt:1"),
    ("letor feature index 2^31-1", {"big.txt": letor(["1 qid:1 2147483647:0.5", "0 qid:1 1:0.2"])},
     "LETOR:big.txt", "big.txt:1"),
    ("letor not a number", {"nan.txt": letor(["1 qid:1 1:zz", "0 qid:1 1:0.2"])}, "LETOR:nan.txt", "nan.txt:1"),
    ("letor empty", {"empty.txt": ""}, "LETOR:empty.txt", "empty.txt"),
    ("letor not UTF-8", {"bin.txt": b"1 qid:1 1:0.5\n\xff\xfe qid:1\n"}, "LETOR:bin.txt", "bin.txt"),
    ("gz that is not gzip", {"x.txt.gz": GOOD_LETOR}, "LETOR:x.txt.gz", "x.txt.gz"),
    ("gz truncated", {"t.txt.gz": gzip.compress(GOOD_LETOR.encode())[:-20]}, "LETOR:t.txt.gz", "t.txt.gz"),
    ("bz2 truncated", {"t.txt.bz2": bz2.compress(GOOD_LETOR.encode())[:-30]}, "LETOR:t.txt.bz2", "t.txt.bz2"),
    ("bz2 that is not bzip2", {"x.txt.bz2": b"BZh9 not really"}, "LETOR:x.txt.bz2", "x.txt.bz2"),
    ("group file a folder", {"g.txt": letor(["1 1:0.5", "0 1:0.2"]), "g.txt.query/x": ""}, "LETOR:g.txt", "g.txt.query"),
    # ---------------------------------------------------------------- sweep files
    ("sweep missing", {}, ["--sweep", "nosuch.toml"], "cannot read sweep file 'nosuch.toml'"),
    ("sweep not UTF-8", {"s.toml": b'preset = "smoke"\n[grid]\n"loop.rounds" = [1] # \xe9\n'}, ["--sweep", "s.toml"],
     "s.toml:3: not UTF-8 text"),
    ("sweep unknown top key", {"s.toml": 'preset = "smoke"\n[gird]\n"loop.rounds" = [1]\n'}, ["--sweep", "s.toml"],
     "unknown key 'gird'; allowed keys of a sweep file"),
    ("sweep without base", {"s.toml": '[grid]\n"loop.rounds" = [1]\n'}, ["--sweep", "s.toml"], "no base"),
    ("sweep grid value not a list", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = 1\n'},
     ["--sweep", "s.toml"], "grid.loop.rounds must be a non-empty list"),
    ("sweep grid bad value", {"s.toml": 'preset = "smoke"\n[grid]\n"click_model.eta" = [0.5, 20.0]\n'},
     ["--sweep", "s.toml"], "grid.click_model.eta = 20.0: click_model.eta must be"),
    ("sweep combination", {"s.toml": 'preset = "smoke"\n[grid]\n"click_model.eta" = [0.5]\n'
                                      '"click_model.name" = ["pbm", "dbn"]\n'}, ["--sweep", "s.toml"],
     "grid point click_model.eta = 0.5, click_model.name = 'dbn'"),
    ("sweep set bad value", {"s.toml": 'preset = "smoke"\n[set]\n"loop.rounds" = 0\n[grid]\n"click_model.eta" = [1.0]\n'},
     ["--sweep", "s.toml"], "set.loop.rounds = 0: loop.rounds must be >= 1"),
    ("sweep grid of 10^10 points", {"s.toml": 'preset = "smoke"\n[grid]\n' + "".join(
        f'"{key}" = [{", ".join(str(v) for v in range(100))}]\n'
        for key in ("data.seed", "data.n_queries", "loop.rounds", "loop.sessions_per_round", "learner.n_estimators"))},
     ["--sweep", "s.toml"], "points; at most 10,000"),
    ("sweep grid of a variant table", {"s.toml": 'preset = "smoke"\n[grid]\n"variants.x" = [{learner = "ips"}]\n'},
     ["--sweep", "s.toml"], "a grid key must name a value, not the section [variants.x]"),
    ("sweep seeds out of range", {"s.toml": 'preset = "smoke"\nseeds = 20000\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml"], "s.toml: seeds = 20000: seeds must be <= 10000"),
    ("sweep with --set", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml", "--set", "loop.rounds=2"], "--sweep takes its base and overrides from the sweep file"),
    ("two backends", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml", "--jobs", "2", "--dask-local", "2"], "give one of --jobs, --scheduler and --dask-local"),
    ("scheduler address", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml", "--scheduler", "localhost"], "--scheduler expects an address like tcp://HOST:PORT"),
    ("timeout without scheduler", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml", "--scheduler-timeout", "3"], "--scheduler-timeout applies to --scheduler only"),
    ("dask without sweep", {}, ["--dask-local", "2"], "give --sweep FILE.toml"),
    # ---------------------------------------------------------------- output folders
    ("--out empty", {}, ["--out", ""], "argument --out: must name a folder, got an empty path"),
    ("--out a file", {"taken": "a user's file\n"}, ["--out", "taken"], "--out taken is a file; give a folder"),
    ("--out below a file", {"taken": "a user's file\n"}, ["--out", "taken/run"], "is below taken, which is a file"),
    ("--out foreign folder", {"mine/notes.txt": "keep me\n", "mine/logs/server.log": "keep me too\n"},
     ["--out", "mine"], "is not empty (logs, notes.txt...) and holds no clickloop run"),
    ("--resume into a foreign folder", {"mine/notes.txt": "keep me\n"}, ["--out", "mine", "--resume"],
     "is not empty (notes.txt...) and holds no clickloop run to continue"),
    ("--resume over a user's files", {"mine/summary.md": "my notes\n", "mine/metrics.csv": "my data\n"},
     ["--out", "mine", "--resume"], "its metrics.csv, summary.md would be overwritten"),
    ("--force over a user's files", {"mine/config.toml": "# mine\n", "mine/plots/a.png": "png"},
     ["--out", "mine", "--force"], "its config.toml, plots would be overwritten"),
    ("a user's .state is not an old run", {"u/.state/important": "x\n", "u/notes.txt": "n\n"}, ["--out", "u"],
     "--out u holds no clickloop run, and its .state would be overwritten"),
    ("manifest listing the folder itself", {"old/clickloop-run.json": '{"tool": "clickloop", "kind": "run", "status": "complete", "config_sha256": "x", "started": "t", "outputs": ["."]}', "old/mine.txt": "keep\n"},
     ["--out", "old"], "output '.' outside the folder"),
    ("manifest that is a list", {"old/clickloop-run.json": "[]"}, ["--out", "old"], "not a clickloop manifest"),
    ("config file that is a device", {}, ["--config", "/dev/zero"], "cannot read config file '/dev/zero': not a regular file"),
    ("config nested past any limit", {"deep.toml": "seeds = " + "[" * 100000 + "]" * 100000 + "\n"},
     ["--config", "deep.toml"], "deep.toml: not valid TOML: maximum recursion depth exceeded"),
    ("scheduler address Dask cannot parse", {"s.toml": 'preset = "smoke"\n[grid]\n"loop.rounds" = [1]\n'},
     ["--sweep", "s.toml", "--scheduler", "tcp://"], "cannot connect to the Dask scheduler at tcp://"),
    ("variant name too long for a folder", {}, ["--set", "loop.variants=['" + "v" * 300 + "']"],
     "must list variant names (at most 64 characters"),
    ("gate holdout of one session", {}, ["--set", "deployment.gate='ope'", "--set", "loop.sessions_per_round=200",
                                          "--set", "deployment.holdout=0.005"], "keeps 1 sessions for the gate"),
    ("tower with one rank", {}, ["--set", "policy.k=1", "--set", 'loop.variants=["tower"]'],
     "tower: estimating theta per rank needs policy.k >= 2, got 1"),
    ("cascade-model IPS assuming PBM", {}, ["--set", 'loop.variants=["ips"]', "--set", "ips.propensity='cascade_model'",
                                             "--set", "ips.assumed_click_model='pbm'"],
     "ips.assumed_click_model = 'pbm' has no examination to estimate"),
    ("DR targets with an IPS-only propensity", {}, ["--set", 'loop.variants=["l"]', "--set",
     'variants.l={learner="lambdamart", targets="dr", propensity="policy_oblivious"}'],
     "variants.l.propensity = 'policy_oblivious': targets = 'dr' takes oracle, pbm, estimated, policy_aware"),
    ("--out damaged manifest", {"old/clickloop-run.json": "{not json"}, ["--out", "old"],
     "not a readable clickloop manifest"),
    ("--resume garbage config.toml", {"old/config.toml": "\x00\x01 garbage =\n", "old/.state/x": ""},
     ["--out", "old", "--resume"], "--resume: old/config.toml is not a readable configuration"),
]


def _write(folder, files):
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/x") and content == "":
            continue  # the folder alone
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(folder):
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("name, files, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2_before_anything_is_written(name, files, argv, message, tmp_path,
                                                                      capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, files)
    if argv.startswith("LETOR:") if isinstance(argv, str) else False:
        argv = ["--preset", "smoke", "--set", "data.source='letor'", "--set", f"data.path='{argv[6:]}'",
                "--set", "data.test_fraction=0.2"]
    if "--out" not in argv:
        argv = argv + ["--out", "out"]
    if "--sweep" not in argv and "--preset" not in argv and "--config" not in argv and "--dask-local" not in argv:
        argv = ["--preset", "smoke"] + argv
    before = _snapshot(tmp_path)
    try:
        code = cli.main(argv + ["--quiet"])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert message in err, err
    after = _snapshot(tmp_path)
    assert after == before, sorted(set(after) ^ set(before))  # nothing written, nothing deleted


def test_the_table_is_large():
    assert len(CASES) >= 80


# -------------------------------------------------------------------- API calls
API = [
    (lambda: __import__("simulator").PBM().simulate([[0, -2]], [1, 0]), ValueError, "displayed"),
    (lambda: __import__("simulator").click_model("cascade", eta=2.0), ValueError,
     "click model 'cascade' takes no parameter 'eta'; it accepts: attractiveness"),
    (lambda: __import__("simulator").click_model("nosuch"), ValueError, "unknown click model 'nosuch'"),
    (lambda: __import__("simulator").validation.check_probability(1.5, "epsilon"), ValueError,
     "epsilon must be a probability in [0, 1], got 1.5"),
    (lambda: __import__("simulator").validation.check_query_boundaries([0, 3, 2], 2), ValueError,
     "query_boundaries must end at n_docs=2, got 2" if False else "query_boundaries must be strictly increasing"),
    (lambda: __import__("clickloop").ProcessBackend(0), ValueError, "jobs must be an integer >= 1, got 0"),
    (lambda: __import__("clickloop").DaskBackend(), ValueError, "give exactly one of scheduler"),
    (lambda: __import__("policies").Deterministic(lambda X: X[:, 0], 0), ValueError, "k must be an integer >= 1"),
]


@pytest.mark.parametrize("call, error, message", API, ids=[m[:40] for _, _, m in API])
def test_api_calls_reject_bad_arguments(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()
