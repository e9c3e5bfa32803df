"""The SQLite schemas the SQL expert is trained and tested on, and deterministic rows for them.

Each schema has a parent table and a child table that points at it through `<parent>_id`
(one foreign key, so every join the expert learns is a single FK join). Every table has a
label column (a unique text such as a name or title), category columns (a small pool of
repeated texts: good for `=`, `IN`, `GROUP BY`) and numeric columns (distinct integers: good
for comparisons, `BETWEEN`, aggregates and an unambiguous `ORDER BY`).

TRAIN_SCHEMAS feed the training data; HELDOUT_SCHEMAS never appear in it and are used only
for the held-out evaluation file and tests/test_cases.json. MIXED_SCHEMAS add variety to the
training data only: every training parent table paired with every other training schema's child
table, their category values drawn from one shared pool. Why: with only the 12 fixed schemas a
small model learns the schemas (and their values) by heart rather than reading the schema and the
question, and fails on new ones; recombined tables make it read the tables, the foreign key
and the values it is given (held-out accuracy on the demo: see the closing note of issue 7).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FIRST_NAMES = (
    "Alice Bruno Carla Diego Elena Farid Grace Hugo Irene Jonas Keiko Liam Maria Nadia Oscar Paula Quentin Rosa "
    "Samir Tania Umar Vera Walter Xenia Yusuf Zoe Aaron Bianca Caleb Dora Emil Fiona Gustav Hana Ivan Julia Kofi "
    "Lena Marco Nina Omar Petra Rafael Sofia Tomas Ursula Victor Wanda Yara"
).split()
LAST_NAMES = (
    "Smith Costa Novak Silva Meyer Rossi Khan Dubois Tanaka Olsen Garcia Petrov Moreau Adams Lopez Weber Haddad "
    "Jensen Ibrahim Kowalski Larsen Nguyen Ortiz Park Quinn Reyes Sato Torres Varga Wolf"
).split()
CITIES = "Paris Berlin Madrid Rome Lisbon Vienna Oslo Dublin Prague Athens Boston Denver Austin Seattle Toronto".split()
COUNTRIES = "France Germany Spain Italy Japan Brazil Canada Mexico India Sweden Norway Egypt Kenya Chile".split()


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "label" | "cat" | "num" | "fk"
    pool: tuple = ()  # texts for label/cat columns
    low: int = 0  # integer range for num columns
    high: int = 0

    @property
    def sql_type(self) -> str:
        return "TEXT" if self.kind in ("label", "cat") else "INTEGER"

    @property
    def phrase(self) -> str:
        """How questions name the column: the column name in words."""
        return self.name.replace("_", " ")


@dataclass(frozen=True)
class Table:
    name: str  # plural noun, e.g. "products"
    singular: str
    columns: tuple[Column, ...]
    rows: int = 10

    def of(self, kind: str) -> list[Column]:
        return [c for c in self.columns if c.kind == kind]

    @property
    def label(self) -> Column:
        return self.of("label")[0]

    def compact(self) -> str:
        return f"{self.name}(id, {', '.join(c.name for c in self.columns)})"


@dataclass(frozen=True)
class Schema:
    name: str
    parent: Table
    child: Table  # has an fk column `<parent.singular>_id`

    @property
    def tables(self) -> tuple[Table, Table]:
        return (self.parent, self.child)

    @property
    def fk(self) -> Column:
        return self.child.of("fk")[0]

    def system(self) -> str:
        """The system turn: dialect and the compact schema, one line per table (as in the guide)."""
        return "Dialect: sqlite\nSchema:\n" + "\n".join(t.compact() for t in self.tables)


def _people(rng: random.Random, n: int) -> list[str]:
    names = sorted({f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES})
    return rng.sample(names, n)


def L(name: str, pool: str | tuple) -> Column:  # noqa: E743 - short constructors keep the table definitions readable
    return Column(name, "label", tuple(pool.split(",")) if isinstance(pool, str) else tuple(pool))


def C(name: str, pool: str | tuple) -> Column:
    return Column(name, "cat", tuple(pool.split(",")) if isinstance(pool, str) else tuple(pool))


def N(name: str, low: int, high: int) -> Column:
    return Column(name, "num", low=low, high=high)


def FK(parent: str) -> Column:
    return Column(f"{parent}_id", "fk")


PEOPLE = ("<people>",)  # label pool placeholder: generated person names

_DEFS: list[tuple[str, Table, Table]] = [
    ("shop",
     Table("suppliers", "supplier", (L("name", "Acme,Globex,Initech,Umbrella,Hooli,Vandelay,Stark,Wayne"), C("country", COUNTRIES), N("rating", 1, 99)), 6),
     Table("products", "product", (L("name", "Lamp,Chair,Desk,Kettle,Mirror,Rug,Clock,Vase,Shelf,Pillow,Blender,Toaster,Fan,Heater"),
                                   C("category", "home,kitchen,office,garden"), N("price", 5, 400), N("stock", 0, 250), FK("supplier")), 12)),
    ("school",
     Table("teachers", "teacher", (L("name", PEOPLE), C("subject", "math,history,biology,art,music,physics"), N("salary", 2500, 6000)), 6),
     Table("students", "student", (L("name", PEOPLE), C("city", CITIES[:6]), N("age", 6, 19), N("score", 20, 100), FK("teacher")), 12)),
    ("library",
     Table("authors", "author", (L("name", PEOPLE), C("country", COUNTRIES), N("birth_year", 1900, 1995)), 6),
     Table("books", "book", (L("title", "Dune,Emma,Ulysses,Beloved,Hamlet,Ivanhoe,Lolita,Matilda,Persuasion,Rebecca,Siddhartha,Walden,Carrie,Heidi"),
                             C("genre", "fantasy,drama,mystery,romance,poetry"), N("pages", 90, 900), N("year", 1920, 2023), FK("author")), 12)),
    ("hospital",
     Table("doctors", "doctor", (L("name", PEOPLE), C("specialty", "cardiology,neurology,pediatrics,oncology,surgery"), N("experience", 1, 40)), 6),
     Table("patients", "patient", (L("name", PEOPLE), C("city", CITIES[5:11]), N("age", 1, 95), N("weight", 3, 130), FK("doctor")), 12)),
    ("flights",
     Table("airlines", "airline", (L("name", "Skyway,Aerolux,Nordwind,Sunjet,Bluebird,Condorair,Pacifica,Atlas"), C("country", COUNTRIES), N("fleet_size", 8, 300)), 6),
     Table("flights", "flight", (L("code", "AX101,AX205,BL330,BL412,CN518,CN622,DL707,DL815,EZ920,EZ133,FR244,FR356,GK467,GK578"),
                                 C("origin", CITIES[:7]), C("destination", CITIES[7:]), N("distance", 200, 9000), N("price", 40, 1500), FK("airline")), 12)),
    ("movies",
     Table("directors", "director", (L("name", PEOPLE), C("nationality", COUNTRIES), N("age", 30, 85)), 6),
     Table("movies", "movie", (L("title", "Arrival,Brazil,Casablanca,Drive,Elf,Fargo,Gravity,Heat,Inception,Jaws,Kids,Lucy,Memento,Nosferatu"),
                               C("genre", "comedy,drama,horror,action,sci-fi"), N("year", 1940, 2024), N("budget", 1, 300), FK("director")), 12)),
    ("hr",
     Table("departments", "department", (L("name", "Sales,Legal,Finance,Support,Research,Marketing,Logistics,Security"), C("location", CITIES), N("budget", 50, 900)), 6),
     Table("employees", "employee", (L("name", PEOPLE), C("role", "manager,engineer,analyst,clerk,designer"), N("salary", 1800, 9000), N("age", 20, 66), FK("department")), 12)),
    ("sports",
     Table("teams", "team", (L("name", "Lions,Tigers,Hawks,Wolves,Sharks,Eagles,Bears,Falcons"), C("city", CITIES[6:]), N("founded", 1880, 2015)), 6),
     Table("players", "player", (L("name", PEOPLE), C("position", "goalkeeper,defender,midfielder,forward"), N("goals", 0, 60), N("age", 17, 39), FK("team")), 12)),
    ("music",
     Table("artists", "artist", (L("name", "Aurora,Bastille,Coldplay,Daft Punk,Enya,Feist,Gorillaz,Hozier,Imagine,Jamiroquai"), C("country", COUNTRIES), N("debut_year", 1965, 2020)), 6),
     Table("songs", "song", (L("title", "Runaway,Yellow,Clocks,Hello,Halo,Toxic,Wonderwall,Creep,Roxanne,Africa,Vogue,Angel,Hurt,Jump"),
                             C("genre", "pop,rock,jazz,electronic,folk"), N("duration", 120, 420), N("plays", 100, 9999), FK("artist")), 12)),
    ("weather",
     Table("stations", "station", (L("name", "Northpoint,Eastfield,Lakeside,Hilltop,Riverbend,Seaview,Pinecrest,Stonegate"), C("region", "north,south,east,west,central"), N("altitude", 0, 2500)), 6),
     Table("readings", "reading", (L("month", "January,February,March,April,May,June,July,August,September,October,November,December"),
                                   C("condition", "sunny,rainy,cloudy,snowy,windy"), N("temperature", -15, 38), N("rainfall", 0, 300), FK("station")), 12)),
    ("restaurant",
     Table("chefs", "chef", (L("name", PEOPLE), C("cuisine", "italian,french,thai,mexican,indian,japanese"), N("stars", 1, 30)), 6),
     Table("dishes", "dish", (L("name", "Paella,Risotto,Ramen,Tacos,Curry,Lasagna,Sushi,Goulash,Falafel,Gnocchi,Pho,Burrito,Tempura,Moussaka"),
                              C("course", "starter,main,dessert,side"), N("price", 4, 60), N("calories", 90, 1400), FK("chef")), 12)),
    ("games",
     Table("studios", "studio", (L("name", "Pixelforge,Bytehaus,Moonlit,Redshift,Quasar,Nimbus,Ironclad,Lumen"), C("country", COUNTRIES), N("employees", 5, 900)), 6),
     Table("games", "game", (L("title", "Starfall,Mudrunner,Voidwalk,Tinkerer,Skyreach,Frostbite,Nightjar,Overgrow,Rustbelt,Sunspire,Tidewater,Zenith,Quarry,Kindle"),
                             C("genre", "puzzle,racing,strategy,shooter,platformer"), N("price", 0, 70), N("rating", 10, 100), FK("studio")), 12)),
    # ---- held out: never in the training data ----
    ("zoo",
     Table("keepers", "keeper", (L("name", PEOPLE), C("shift", "morning,evening,night"), N("years", 1, 35)), 6),
     Table("animals", "animal", (L("name", "Bella,Rocky,Zazu,Nala,Kovu,Pumba,Raja,Koko,Dumbo,Marty,Gloria,Melman,Alex,Timon"),
                                 C("species", "lion,zebra,penguin,elephant,giraffe"), N("weight", 2, 5000), N("age", 1, 60), FK("keeper")), 12)),
    ("bank",
     Table("branches", "branch", (L("name", "Central,Harbor,Uptown,Midtown,Riverside,Westgate,Old Town,Airport"), C("city", CITIES), N("staff", 3, 80)), 6),
     Table("accounts", "account", (L("owner", PEOPLE), C("type", "checking,savings,business"), N("balance", 0, 90000), N("opened_year", 1995, 2024), FK("branch")), 12)),
    ("housing",
     Table("agents", "agent", (L("name", PEOPLE), C("agency", "Keller,Remax,Century,Compass,Sotheby"), N("commission", 1, 9)), 6),
     Table("houses", "house", (L("address", ("12 Oak St", "4 Elm Rd", "88 Pine Ave", "7 Birch Ln", "31 Maple Dr", "19 Cedar Ct", "56 Ash Way",
                                             "2 Willow Pl", "73 Spruce St", "40 Poplar Rd", "15 Alder Ave", "64 Hazel Ln", "27 Laurel Dr", "91 Linden Ct")),
                               C("district", "downtown,suburbs,harbor,hills"), N("price", 90000, 990000), N("area", 35, 400), FK("agent")), 12)),
]

SCHEMAS: dict[str, Schema] = {name: Schema(name, parent, child) for name, parent, child in _DEFS}
HELDOUT_SCHEMAS = ("zoo", "bank", "housing")
TRAIN_SCHEMAS = tuple(n for n in SCHEMAS if n not in HELDOUT_SCHEMAS)


PLACE_WORDS = ("city", "country", "town", "location", "region", "origin", "destination", "nationality")
_CATEGORY_POOL = tuple(sorted({v for name, parent, child in _DEFS if name in TRAIN_SCHEMAS for t in (parent, child)
                              for c in t.columns if c.kind == "cat" and not any(w in c.name for w in PLACE_WORDS) for v in c.pool}))


# Other names a recombined table may give its columns. Without them every training label column is
# name/title/code/month, and on a new schema the model writes `name` where the table has `owner`.
# Names with underscores and unusual words too: real schemas have unit_price and sku_code, and a
# model that only saw one-word columns splits them. Place columns keep their place values and take
# place names, so "from Lyon" keeps pointing at a city-like column. Names of held-out columns are
# left out, so the held-out schemas stay unseen.
_RENAMES = {
    "label": ("full_name", "nickname", "handle", "label", "brand", "headline", "alias", "contact", "display_name", "given_name",
              "item_label", "codename", "moniker"),
    "cat": ("kind", "category", "status", "tier", "grade", "color", "zone", "style", "level", "status_code", "size_class",
            "plan_tier", "shift_type", "flavor"),
    "num": ("size", "cost", "score", "rank", "total", "height", "volume", "points", "length", "unit_price", "item_count",
            "max_load", "days_open", "weight_kg", "score_pct", "visit_total", "floor_no"),
    "place": ("home_city", "base_town", "hometown", "region_name", "city_name", "home_country"),
}
# prefixes a recombined table's name may take (club_players, archive_books): a question then says
# "club players" or just "players"
TABLE_PREFIXES = ("club", "local", "online", "night", "field", "north", "main", "archive", "guild", "pro", "village", "uni")
TABLE_PREFIX_SHARE = 0.35
_HELDOUT_COLUMNS = {c.name for name, parent, child in _DEFS if name in HELDOUT_SCHEMAS for t in (parent, child) for c in t.columns}
RENAME_SHARE = 0.5  # chance that a recombined table's column takes another name


def _is_place(c: Column) -> bool:
    return c.kind == "cat" and any(w in c.name for w in PLACE_WORDS)


def _mixed(parent_schema: str, child_schema: str, rng: random.Random) -> Schema:
    parent, child = SCHEMAS[parent_schema].parent, SCHEMAS[child_schema].child

    def varied(t: Table) -> tuple[Column, ...]:
        taken = {c.name for c in t.columns}
        out = []
        for c in t.columns:
            kind = "place" if _is_place(c) else c.kind
            if c.kind == "cat" and kind != "place":
                c = C(c.name, tuple(rng.sample(_CATEGORY_POOL, len(c.pool))))
            choices = [n for n in _RENAMES.get(kind, ()) if n not in taken and n not in _HELDOUT_COLUMNS]
            if choices and rng.random() < RENAME_SHARE:
                new = rng.choice(choices)
                taken.add(new)
                c = Column(new, c.kind, c.pool, c.low, c.high)
            out.append(c)
        return tuple(out)

    def named(t: Table) -> tuple[str, str]:
        if rng.random() < TABLE_PREFIX_SHARE:
            prefix = rng.choice(TABLE_PREFIXES)
            return f"{prefix}_{t.name}", f"{prefix}_{t.singular}"
        return t.name, t.singular

    (pname, psing), (cname, csing) = named(parent), named(child)
    child_cols = tuple(FK(psing) if c.kind == "fk" else c for c in varied(child))
    return Schema(f"{parent_schema}+{child_schema}", Table(pname, psing, varied(parent), parent.rows), Table(cname, csing, child_cols, child.rows))


_MIX_RNG = random.Random("mixed-schemas")
MIXED_SCHEMAS: dict[str, Schema] = {
    f"{p}+{c}": _mixed(p, c, _MIX_RNG) for p in TRAIN_SCHEMAS for c in TRAIN_SCHEMAS
    if p != c and SCHEMAS[p].parent.name != SCHEMAS[c].child.name
}


@dataclass
class Database:
    """Concrete rows for one schema (ids start at 1); numeric columns hold distinct values."""

    schema: Schema
    rows: dict[str, list[dict]] = field(default_factory=dict)

    def setup_sql(self) -> str:
        """CREATE TABLE and INSERT statements that build this database in SQLite."""
        out = []
        for t in self.schema.tables:
            cols = ["id INTEGER PRIMARY KEY"] + [f"{c.name} {c.sql_type}" for c in t.columns]
            out.append(f"CREATE TABLE {t.name} ({', '.join(cols)});")
        for t in self.schema.tables:
            for row in self.rows[t.name]:
                vals = [str(row["id"])] + [_literal(row[c.name]) for c in t.columns]
                out.append(f"INSERT INTO {t.name} VALUES ({', '.join(vals)});")
        return "\n".join(out)


def _literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def make_database(schema: Schema, seed: int) -> Database:
    """Deterministic rows: labels unique, categories repeat, numbers distinct per column."""
    rng = random.Random(f"{schema.name}:{seed}")
    db = Database(schema)
    for t in schema.tables:
        values: dict[str, list] = {}
        for c in t.columns:
            if c.kind == "label":
                values[c.name] = _people(rng, t.rows) if c.pool == PEOPLE else rng.sample(list(c.pool), t.rows)
            elif c.kind == "cat":
                pool = list(c.pool)
                rng.shuffle(pool)
                pool = pool[: max(3, min(len(pool), t.rows // 3))]
                # every chosen category appears at least twice so GROUP BY/HAVING have something to count
                picks = (pool * 2)[: t.rows]
                picks += [rng.choice(pool[:2]) for _ in range(t.rows - len(picks))]  # uneven group sizes
                rng.shuffle(picks)
                values[c.name] = picks
            elif c.kind == "num":
                values[c.name] = rng.sample(range(c.low, c.high + 1), t.rows)
            else:  # fk: every parent gets children, unevenly
                parents = schema.parent.rows
                picks = list(range(1, parents + 1)) + [rng.randint(1, parents // 2 + 1) for _ in range(t.rows - parents)]
                rng.shuffle(picks)
                values[c.name] = picks
        db.rows[t.name] = [{"id": i + 1, **{k: v[i] for k, v in values.items()}} for i in range(t.rows)]
    return db
