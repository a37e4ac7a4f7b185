"""Two databases of the same shape for the scale benchmark: a small one from the demo generator and a
large one multiplied from it in SQL.

The small database (10,000 customers by default) is the demo generator's (``load_demo``). The large
one starts as a copy of it (``VACUUM INTO`` on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL) and then gets the base customers again and again, with ids offset by the base's size,
through ``INSERT … SELECT``:

* the customer rows, with what must stay unique made unique again: a new customer number (the
  generator's formula for the customer's new sequence number), a new resident/organisation ID
  number with a valid check digit, sealed and blind-indexed with the database's key like any other
  (``uq_crm_customer_id_type_id_number`` holds), a new app user id. So that a copy is not a clone
  of its original wherever the list looks, its name comes from another base customer of the same
  type and sex, and its money figures (total and net assets, 12-month peak, month-start assets)
  from another of the same asset tier, lifecycle stage and status, moved by up to ±3 % (never
  across a tier threshold); everything else (tier, risk, stage, manager, branch, dates…) is the
  original's;
* the customer's link tables (tags, multi-selects), offset like the customers;
* the customer assignments (the account manager's scope reads them), offset alike.

Everything else — org units, accounts, trades, snapshots, tickets… — stays the base's: the list
page does not read it. Staff has two shapes (``staff``):

* ``fixed`` (the default): the copies point at the same ~70 employees as their originals, so every
  manager's book grows with the multiplier, as it does from the demo generator, whose staff does
  not grow with the customers (1M customers: ~33,000 per account manager);
* ``scaled``: the employees are copied as often as the customers (new employee numbers, no login,
  supervisors offset alike) and copy k of a customer, and of its assignments, belongs to copy k of
  its manager: every book keeps its size, as in a brokerage that hires as it grows.

Secondary indexes (and, on PostgreSQL, the foreign keys) of the multiplied tables are dropped before
the copy and built after it, then ``ANALYZE`` runs: what the demo generator does after its load.

A database is cached by a marker table (``bench_scale_info``): the small one records when it was
generated and from which entity definitions (a digest of ``schemas/entities``), the large one which
small one it was multiplied from; a stale or half-built database is made again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
INFO = "bench_scale_info"
COPY_MAP = "bench_scale_copy"
COPY_K = "bench_scale_k"
CHUNK_ROWS = 100_000
RECIPE = "4"  # bump when the multiplication changes: cached large databases are then made again
# a fixed key for the benchmark's databases only, so cached files open again in a later run
BENCH_KEY = "bench:" + base64.b64encode(hashlib.sha256(b"scrm bench list_scale").digest()).decode()


def configure_environment() -> None:
    os.environ.setdefault("SCRM_ENCRYPTION_KEY", BENCH_KEY)
    os.environ.setdefault("SCRM_ADMIN_PASSWORD", "bench-Secret-1")
    os.environ.setdefault("SCRM_SECRET_KEY", "bench")


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def database_url(base: str | None, customers: int, suffix: str = "") -> str:
    """A SQLite file in bench/data/, or the database ``scrm_bench_<size><suffix>`` on the server of ``base``."""
    if not base:
        return f"sqlite:///{DATA / f'scale_{customers}{suffix}.db'}"
    url = make_url(base)
    if url.get_backend_name() != "postgresql":
        raise SystemExit(f"--database must be a postgresql:// URL (SQLite is the default): {base}")
    name = f"scrm_bench_{size_label(customers)}{suffix}"
    return url.set(database=name).render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else None


# -- the marker --------------------------------------------------------------------------------------
def read_info(url: str) -> dict[str, str]:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return {}
    if path is None and not _pg_exists(url):
        return {}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(INFO):
                return {}
            return dict(conn.execute(sa.text(f"SELECT key, value FROM {INFO}")).all())
    finally:
        engine.dispose()


def write_info(conn, values: dict) -> None:
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {INFO} (key VARCHAR(40) PRIMARY KEY, value TEXT)"))
    for key, value in values.items():
        conn.execute(sa.text(f"DELETE FROM {INFO} WHERE key = :k"), {"k": key})
        conn.execute(sa.text(f"INSERT INTO {INFO} (key, value) VALUES (:k, :v)"), {"k": key, "v": str(value)})


# -- PostgreSQL databases ---------------------------------------------------------------------------
def _server(url: str) -> sa.Engine:
    return sa.create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _pg_exists(url: str) -> bool:
    engine = _server(url)
    try:
        with engine.connect() as conn:
            name = make_url(url).database
            return (
                conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
            )
    finally:
        engine.dispose()


def _pg_create(url: str, template: str | None = None) -> None:
    """(Re)create the database of ``url``, empty or as a copy of the database ``template``."""
    engine = _server(url)
    name = make_url(url).database
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        engine.dispose()


def _app(url: str):
    configure_environment()
    from scrm.app import create_app

    return create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})


# -- the small database: the demo generator ---------------------------------------------------------
def definitions_fingerprint() -> str:
    """The shipped entity definitions' digest: a cached database made from other definitions
    (another index, another column) is made again."""
    digest = hashlib.sha256()
    for path in sorted((HERE.parent / "schemas" / "entities").glob("*.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def prepare_small(url: str, customers: int) -> dict[str, str]:
    """The demo generator's ``customers`` customers at ``url`` (cached)."""
    info = read_info(url)
    fingerprint = definitions_fingerprint()
    if (
        info.get("customers") == str(customers)
        and info.get("kind") == "demo"
        and info.get("definitions") == fingerprint
    ):
        print(f"small dataset: cached ({customers:,} customers, generated in {info['seconds']} s)", flush=True)
        return info
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        _pg_create(url)
    app = _app(url)
    from scrm.db import db
    from scrm.demo import load_demo
    from scrm.installation import initialise

    started = time.perf_counter()
    with app.app_context():
        initialise()
        for line in load_demo(customers=customers, progress=True):
            print(line, flush=True)
        seconds = time.perf_counter() - started
        info = {
            "kind": "demo",
            "customers": customers,
            "base_customers": customers,
            "seconds": f"{seconds:.1f}",
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "definitions": fingerprint,
        }
        with db.engine.begin() as conn:
            write_info(conn, info)
        db.session.remove()
        db.engine.dispose()
    print(f"small dataset: {customers:,} customers generated in {seconds:.1f} s", flush=True)
    return {k: str(v) for k, v in info.items()}


# -- the large database: the small one multiplied ---------------------------------------------------
def prepare_large(
    small_url: str, url: str, base: int, customers: int, small_info: dict[str, str], staff: str = "fixed"
) -> dict[str, str]:
    """``customers`` customers at ``url``: the small database copied, then its customers multiplied
    (with the staff too when ``staff`` is "scaled")."""
    info = read_info(url)
    if (
        info.get("customers") == str(customers)
        and info.get("kind") == "multiplied"
        and info.get("staff") == staff
        and info.get("base_built_at") == small_info["built_at"]
        and info.get("recipe") == RECIPE
    ):
        print(
            f"large dataset: cached ({customers:,} customers, multiplied in {info['seconds']} s "
            f"+ the base's {info['base_seconds']} s)",
            flush=True,
        )
        return info
    if customers < base:
        raise SystemExit("--size-large must not be smaller than --size-small")
    started = time.perf_counter()
    path = sqlite_path(url)
    if path is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        source = sa.create_engine(small_url)
        try:
            with source.connect() as conn:
                conn.exec_driver_sql("VACUUM INTO ?", (str(path),))
        finally:
            source.dispose()
    else:
        _pg_create(url, template=make_url(small_url).database)
    copied = time.perf_counter() - started
    print(f"large dataset: base copied in {copied:.1f} s; multiplying to {customers:,} customers", flush=True)
    app = _app(url)
    from scrm.db import db

    with app.app_context():
        timings = multiply(base, customers, staff)
        seconds = time.perf_counter() - started
        info = {
            "kind": "multiplied",
            "recipe": RECIPE,
            "staff": staff,
            "customers": customers,
            "base_customers": base,
            "base_built_at": small_info["built_at"],
            "base_seconds": small_info["seconds"],
            "seconds": f"{seconds:.1f}",
            "steps": ", ".join(f"{k} {v:.1f} s" for k, v in {"copy base": copied, **timings}.items()),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with db.engine.begin() as conn:
            write_info(conn, info)
        db.session.remove()
        db.engine.dispose()
    print(f"large dataset: {customers:,} customers in {seconds:.1f} s ({info['steps']})", flush=True)
    return {k: str(v) for k, v in info.items()}


def multiply(base: int, customers: int, staff: str = "fixed") -> dict[str, float]:
    """Inside the large database's app context: copies of the base customers up to ``customers``.
    With ``staff="scaled"`` the employees are copied as often, and copy k of a customer is served
    by copy k of its manager (each book keeps its size); otherwise every copy keeps the original's."""
    from scrm.db import db, write_intent
    from scrm.demo.bulk import DeferredIndexes, analyze, reset_sequences
    from scrm.runtime import snapshot

    timings: dict[str, float] = {}
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        timings[name] = now - mark
        mark = now
        print(f"  {name}: {timings[name]:.1f} s", flush=True)

    def contiguous(table: sa.Table, what: str) -> tuple[int, int]:
        low, high, count = db.session.execute(
            sa.select(sa.func.min(table.c.id), sa.func.max(table.c.id), sa.func.count())
        ).one()
        if not count or high - low + 1 != count:
            raise SystemExit(f"the base's {what} should have consecutive ids; they run {low}..{high} ({count})")
        return low, count

    with write_intent():
        snap = snapshot()
        customer_t, assignment_t = snap.tables["customer"], snap.tables["customer_assignment"]
        employee_t = snap.tables["employee"]
        scaled = staff == "scaled"
        low, count = contiguous(customer_t.main, "customers")
        if count != base:
            raise SystemExit(f"the base holds {count} customers, not {base}")
        e_stride = contiguous(employee_t.main, "employees")[1] if scaled else 0
        last_id = low + customers - 1  # the copies' ids run on from the base's
        copies = -(-customers // base) - 1
        dialect = db.engine.dialect.name
        if dialect == "sqlite":
            db.session.execute(sa.text("PRAGMA cache_size=-262144"))
        deferred = DeferredIndexes([customer_t, assignment_t, *([employee_t] if scaled else [])])
        deferred.drop()
        step("drop indexes")

        conn = db.session.connection()
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {COPY_K}")
        conn.exec_driver_sql(f"CREATE TABLE {COPY_K} (k INTEGER PRIMARY KEY)")
        conn.execute(sa.text(f"INSERT INTO {COPY_K} (k) VALUES (:k)"), [{"k": k} for k in range(1, copies + 1)])
        k = sa.table(COPY_K, sa.column("k"))

        def copy_rows(table: sa.Table, changed: dict, where=None) -> None:
            """INSERT … SELECT of every row of ``table`` once per copy k, with the ``changed`` columns."""
            columns = [c.name for c in table.columns]
            values = [changed.get(c, table.c[c]) for c in columns]
            select = sa.select(*values).select_from(table.join(k, sa.true()))
            if where is not None:
                select = select.where(where)
            db.session.connection().execute(sa.insert(table).from_select(columns, select))

        def copy_links(et, stride: int, limit: int | None = None) -> None:
            for link in et.links.values():
                shifted = link.c.record_id + k.c.k * stride
                where = shifted <= limit if limit is not None else None
                copy_rows(link, {"record_id": shifted}, where)

        if scaled:
            e = employee_t.main
            field = employee_t.entity.field
            number, login, supervisor = (field(n).column for n in ("employee_no", "login", "supervisor"))
            copy_rows(
                e,
                {
                    "id": e.c.id + k.c.k * e_stride,
                    number: e.c[number] + "-" + sa.cast(k.c.k, sa.String),
                    login: sa.null(),
                    supervisor: e.c[supervisor] + k.c.k * e_stride,
                },
            )
            copy_links(employee_t, e_stride)
            db.session.commit()
            step("employees")

        conn = db.session.connection()
        copier = CustomerCopier(snap, base, low, e_stride)
        copier.create_map(conn)
        per_chunk = max(1, CHUNK_ROWS // base)
        for first in range(1, copies + 1, per_chunk):
            ks = range(first, min(copies, first + per_chunk - 1) + 1)
            copier.copy(db.session.connection(), ks, last_id)
            db.session.commit()
            print(f"  customers: {min(last_id, low - 1 + (ks[-1] + 1) * base):,}", flush=True)
        copier.drop_map(db.session.connection())
        step("customers")

        copy_links(customer_t, base, last_id)
        db.session.commit()
        step("customer link tables")

        a = assignment_t.main
        field = assignment_t.entity.field
        customer_col = a.c[field("customer").column]
        a_stride = db.session.execute(sa.select(sa.func.max(a.c.id))).scalar() or 0
        changed = {"id": a.c.id + k.c.k * a_stride, customer_col.name: customer_col + k.c.k * base}
        if scaled:
            for name in ("employee", "approved_by"):
                column = a.c[field(name).column]
                changed[column.name] = column + k.c.k * e_stride
        copy_rows(a, changed, customer_col + k.c.k * base <= last_id)
        copy_links(assignment_t, a_stride)
        db.session.connection().exec_driver_sql(f"DROP TABLE {COPY_K}")
        db.session.commit()
        step("customer assignments")

        deferred.build()
        reset_sequences([customer_t, assignment_t, employee_t])
        db.session.commit()
        step("build indexes")
    if dialect == "sqlite":
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()
    analyze()
    step("ANALYZE")
    return timings


class CustomerCopier:
    """Customer copies through a map table: one row per new customer with what differs from its
    original (made in Python: new numbers, sealed and blind-indexed; a name and money figures taken
    from other base customers), joined to the original for everything else."""

    # figures taken together from a donor of the same tier, stage and status, then moved by up to ±3 %
    MONEY = ("total_assets", "net_assets", "aum_peak_12m", "assets_month_start")

    def __init__(self, snap, base: int, low: int, e_stride: int = 0):
        from scrm.data.tables import ID_TYPE
        from scrm.db import db
        from scrm.demo.bulk import converter
        from scrm.demo.customers import tier_of
        from scrm.security.crypto import context_of, keyring

        self.base, self.low, self.e_stride = base, low, e_stride
        tables = snap.tables["customer"]
        entity = tables.entity
        self.main = main = tables.main
        self.dialect = db.engine.dialect.name
        self.keyring, self.tier_of = keyring(), tier_of
        self.money = [n for n in self.MONEY if entity.field(n) is not None and entity.field(n).column in main.c]
        names = ("customer_no", "name", "id_type", "customer_type", "gender", "asset_tier", "lifecycle_stage",
                 "customer_status", "app_user_id", *self.money)  # fmt: skip
        self.col = {name: entity.field(name).column for name in names}
        id_field = entity.field("id_number")
        self.id_col, self.bidx_col = id_field.column, id_field.index_column
        self.manager_col = entity.field("primary_manager").column
        self.context = context_of(entity.name, id_field.id)
        self.convert = {name: converter(main.c[self.col[name]], self.dialect) for name in self.money}
        money_type = sa.BigInteger() if self.dialect == "sqlite" else sa.Numeric(24, 4)
        # map column -> the customer column it replaces
        self.replaces = {
            "new_id": "id",
            "customer_no": self.col["customer_no"],
            "name": self.col["name"],
            "id_number": self.id_col,
            "id_number_bidx": self.bidx_col,
            "app_user_id": self.col["app_user_id"],
            **{name: self.col[name] for name in self.money},
        }
        self.map = sa.Table(
            COPY_MAP,
            sa.MetaData(),
            sa.Column("new_id", ID_TYPE, primary_key=True),
            sa.Column("base_id", ID_TYPE, nullable=False),
            sa.Column("k", sa.Integer, nullable=False),
            *(
                sa.Column(name, sa.Text)
                for name in ("customer_no", "name", "id_number", "id_number_bidx", "app_user_id")
            ),
            *(sa.Column(name, money_type) for name in self.money),
        )
        # the originals, read once (the id numbers opened with the database's key)
        c = main.c
        rows = db.session.execute(
            sa.select(c.id, c[self.id_col], *(c[self.col[n]] for n in names)).order_by(c.id)
        ).mappings()
        self.originals = [
            {"id": r["id"], "id_number": r[self.id_col], **{n: r[self.col[n]] for n in names}} for r in rows
        ]
        self.used = {(r["id_type"], r["id_number"]) for r in self.originals if r["id_number"]}
        self.name_donors: dict[tuple, list[str]] = {}
        self.money_donors: dict[tuple, list[dict]] = {}
        for r in self.originals:
            self.name_donors.setdefault((r["customer_type"], r["gender"]), []).append(r["name"])
            key = (r["asset_tier"], r["lifecycle_stage"], r["customer_status"])
            self.money_donors.setdefault(key, []).append(r)
        self.rng = random.Random(20261121)

    def create_map(self, conn) -> None:
        self.map.drop(conn, checkfirst=True)
        self.map.create(conn)

    def drop_map(self, conn) -> None:
        self.map.drop(conn, checkfirst=True)

    def copy(self, conn, ks: range, last_id: int) -> None:
        rows = []
        for k in ks:
            for original in self.originals:
                new_id = original["id"] + k * self.base
                if new_id > last_id:
                    break
                rows.append(self._row(k, new_id, original))
        conn.execute(self.map.delete())
        self._send(conn, rows)
        main, m = self.main, self.map
        replaced = {column: m.c[name] for name, column in self.replaces.items()}
        if self.e_stride:  # copy k of a customer is served by copy k of its manager
            manager = self.manager_col
            replaced[manager] = main.c[manager] + m.c.k * self.e_stride
        columns = [c.name for c in main.columns]
        select = sa.select(*[replaced.get(c, main.c[c]) for c in columns]).select_from(
            m.join(main, main.c.id == m.c.base_id)
        )
        conn.execute(sa.insert(main).from_select(columns, select))

    def _row(self, k: int, new_id: int, original: dict) -> tuple:
        rng = self.rng
        n = (original["id"] - self.low) + k * self.base  # the generator's sequence number of the customer
        sealed = bidx = None
        if original["id_number"]:
            fresh = self._id_number(original["id_type"], original["id_number"])
            sealed = self.keyring.seal(fresh, self.context)
            bidx = self.keyring.blind(fresh)
        name = rng.choice(self.name_donors[(original["customer_type"], original["gender"])])
        donor = rng.choice(
            self.money_donors[(original["asset_tier"], original["lifecycle_stage"], original["customer_status"])]
        )
        factor = Decimal(1000 + rng.randint(-30, 30)) / 1000
        total = donor.get("total_assets")
        if total is not None and self.tier_of(float(total * factor)) != self.tier_of(float(total)):
            factor = Decimal(1)
        money = []
        for field in self.money:
            value = donor[field]
            money.append(None if value is None else self.convert[field]((value * factor).quantize(Decimal("0.01"))))
        return (
            new_id,
            original["id"],
            k,
            f"{310000000000 + n * 7 + 3:012d}" if original["customer_no"] else None,
            name,
            sealed,
            bidx,
            f"U{new_id:09d}" if original["app_user_id"] else None,
            *money,
        )

    def _id_number(self, id_type: str, original: str) -> str:
        from scrm.demo.people import CITIES, ID_WEIGHTS

        rng = self.rng
        for attempt in range(1000):
            if id_type == "cn_id" and len(original) == 18:
                area = original[:6] if attempt < 200 else rng.choice(CITIES)[0]
                parity = rng.choice("13579" if int(original[16]) % 2 else "02468")  # the holder's sex
                body = f"{area}{original[6:14]}{rng.randint(0, 99):02d}{parity}"
                number = body + "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
            else:
                number = (
                    f"{original[:8]}{rng.randint(10**9, 10**10 - 1)}{rng.choice('0123456789ABCDEFGHJKLMNPQRTUWXY')}"
                )
            if (id_type, number) not in self.used:
                self.used.add((id_type, number))
                return number
        raise RuntimeError(f"no free ID number like {original}")

    def _send(self, conn, rows: list[tuple]) -> None:
        raw = conn.connection.driver_connection
        names = [c.name for c in self.map.columns]
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in names)
            raw.executemany(f"INSERT INTO {COPY_MAP} ({', '.join(names)}) VALUES ({marks})", rows)
            return
        with raw.cursor() as cursor, cursor.copy(f"COPY {COPY_MAP} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
