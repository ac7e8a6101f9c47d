"""Where the notebooks get the job's data: MongoDB's results collections and the Parquet.

Settings come from the environment; the stack's `notebook` service sets them (README,
"Notebooks"), and `scripts/notebooks` sets them to run the notebooks against a local job:

  MONGO_URI            mongodb://mongo:27017/ (credentials apart, as below)
  MONGO_USERNAME       the user, if the server wants one
  MONGO_PASSWORD       its password, or MONGO_PASSWORD_FILE: a file that holds it (a Docker secret)
  MONGO_DATABASE       power
  WEBHDFS_URL          the job's output folder on HDFS through HttpFS or WebHDFS,
                       http://httpfs:14000/webhdfs/v1/wattswarm
  WEBHDFS_USER         hadoop
  PARQUET_DIR          a local folder of part-*.parquet instead (an embedded run's parquet/)
"""
import hashlib
import json
import os
import pathlib
import urllib.error
import urllib.parse
import urllib.request


def mongo():
    """The results database (pymongo), with the credentials of the environment."""
    from pymongo import MongoClient

    options = {}
    user = os.environ.get("MONGO_USERNAME")
    if user:
        password = os.environ.get("MONGO_PASSWORD")
        if password is None and os.environ.get("MONGO_PASSWORD_FILE"):
            password = pathlib.Path(os.environ["MONGO_PASSWORD_FILE"]).read_text().strip()
        options = {"username": user, "password": password, "authSource": os.environ.get("MONGO_AUTH_SOURCE", "admin")}
    client = MongoClient(os.environ.get("MONGO_URI", "mongodb://mongo:27017/"), serverSelectionTimeoutMS=20000, **options)
    return client[os.environ.get("MONGO_DATABASE", "power")]


def find(collection, fields):
    """Every document of a results collection, as a list of dicts of `fields`; fails when
    the collection is empty (no job has finished yet)."""
    docs = list(mongo()[collection].find({}, {"_id": 0, **{f: 1 for f in fields}}))
    if not docs:
        raise RuntimeError(f"power.{collection} is empty: has a job finished? (the master's log says)")
    return docs


def _webhdfs(path, op):
    base = os.environ["WEBHDFS_URL"].rstrip("/")
    query = urllib.parse.urlencode({"op": op, "user.name": os.environ.get("WEBHDFS_USER", "hadoop")})
    return f"{base}/{path}?{query}" if path else f"{base}?{query}"


def parquet_parts():
    """Local paths of the job's Parquet parts: PARQUET_DIR's, or those of WEBHDFS_URL's
    `parquet/` folder, copied once into ~/.cache/wattswarm-parquet (a new job's parts,
    other names or sizes or times, go into a new folder)."""
    if os.environ.get("PARQUET_DIR"):
        parts = sorted(str(p) for p in pathlib.Path(os.environ["PARQUET_DIR"]).glob("part-*.parquet"))
    else:
        try:
            urllib.request.urlopen(_webhdfs("_SUCCESS", "GETFILESTATUS"), timeout=30).close()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise RuntimeError(f"no finished job in {os.environ['WEBHDFS_URL']} (no _SUCCESS): has the job finished?") from None
            raise
        with urllib.request.urlopen(_webhdfs("parquet", "LISTSTATUS"), timeout=30) as r:
            listing = json.load(r)["FileStatuses"]["FileStatus"]
        files = sorted((f["pathSuffix"], f["length"], f["modificationTime"]) for f in listing if f["pathSuffix"].startswith("part-") and f["pathSuffix"].endswith(".parquet"))
        key = hashlib.sha256(json.dumps([os.environ["WEBHDFS_URL"], files]).encode()).hexdigest()[:16]
        cache = pathlib.Path.home() / ".cache" / "wattswarm-parquet" / key
        cache.mkdir(parents=True, exist_ok=True)
        parts = []
        for name, length, _ in files:
            local = cache / name
            if not local.exists() or local.stat().st_size != length:
                tmp = cache / f".{name}.tmp"
                with urllib.request.urlopen(_webhdfs(f"parquet/{name}", "OPEN"), timeout=300) as r, open(tmp, "wb") as out:
                    while chunk := r.read(1 << 20):
                        out.write(chunk)
                tmp.rename(local)
            parts.append(str(local))
    if not parts:
        raise RuntimeError("no Parquet parts found: has a job finished?")
    return parts


def figures(name, **values):
    """Prints the notebook's figures as one JSON line, which `scripts/notebooks` checks
    against the job's results/*.json."""
    print("WATTSWARM_FIGURES " + json.dumps({"notebook": name, **values}, sort_keys=True))
