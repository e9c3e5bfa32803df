"""The domains texts come from: 18 for training, 6 held out whole for the test cases.

A held-out domain shares no entity and few keys with the training ones (a `name` or `city`
may recur, as in real schemas), and its value pools (pet names, artists, carriers, ...) are its
own, so a test case can only be answered by reading its schema and its text.
"""

from __future__ import annotations

from json_fields import Domain, Field

FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Keiko", "Liam", "Maya", "Nico",
         "Olga", "Pablo", "Rosa", "Sami", "Tara", "Victor", "Wen", "Yusuf", "Zoe", "Marco")
LAST = ("Lee", "Silva", "Novak", "Okafor", "Berg", "Costa", "Kim", "Haddad", "Moreau", "Patel", "Rossi", "Schmidt",
        "Tanaka", "Weber", "Yilmaz", "Garcia", "Olsen", "Dubois")
PEOPLE = tuple(f"{f} {s}" for f in FIRST for s in LAST[::3])
CITIES = ("Lyon", "Porto", "Oslo", "Denver", "Austin", "Krakow", "Seville", "Leeds", "Osaka", "Quebec", "Turin", "Ghent",
          "Bergen", "Tucson", "Nairobi", "Perth", "Malmo", "Bilbao")
STREETS = ("12 Rue Neuve", "48 Oak Street", "7 Harbour Road", "220 Pine Avenue", "3 Mill Lane", "91 King Street",
           "15 Elm Court", "60 Station Road", "5 Via Roma", "33 Lake Drive")
COLORS = ("red", "blue", "black", "white", "green", "grey", "silver", "yellow")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DATES = tuple(f"2026-{m:02d}-{d:02d}" for m in (1, 3, 4, 6, 7, 9, 10, 11) for d in (2, 9, 14, 21, 28))
TIMES = ("08:30", "09:00", "10:15", "11:45", "13:00", "14:30", "16:00", "17:45", "19:30", "20:15")
EMAILS = tuple(f"{f.lower()}.{s.lower()}@example.com" for f in FIRST[::2] for s in LAST[::4])
PHONES = ("555-0142", "555-0199", "555-0123", "555-0187", "555-0110", "555-0166", "555-0135", "555-0178")


def S(key: str, values: tuple[str, ...], *phrases: str, label: str = "") -> Field:
    return Field(key, "string", values, phrases, label=label)


def I(key: str, lo: int, hi: int, *phrases: str, label: str = "") -> Field:  # noqa: E743  (integer)
    return Field(key, "integer", (lo, hi), phrases, label=label)


def N(key: str, lo: int, hi: int, *phrases: str, money: bool = False, label: str = "") -> Field:
    return Field(key, "number", (lo, hi), phrases, money=money, label=label)


def B(key: str, yes: tuple[str, ...], no: tuple[str, ...], label: str = "") -> Field:
    return Field(key, "boolean", (), yes, no, label=label)


def E(key: str, members: tuple[str, ...], *phrases: str, label: str = "") -> Field:
    return Field(key, "enum", members, phrases, label=label)


def A(key: str, values: tuple[str, ...], *phrases: str, size: tuple[int, int] = (1, 3), enum: bool = False) -> Field:
    return Field(key, "enum_array" if enum else "array", values, phrases, size=size)


def O(key: str, children: tuple[Field, ...], *phrases: str) -> Field:  # noqa: E743  (object)
    return Field(key, "object", (), phrases, children=children)


def OA(key: str, children: tuple[Field, ...], item: str, *phrases: str, size: tuple[int, int] = (1, 3)) -> Field:
    return Field(key, "object_array", (), (item, *phrases), children=children, size=size)


def _address(*phrases: str) -> Field:
    return O("address", (S("street", STREETS), S("city", CITIES)), *phrases)


def D(name: str, entity: str, fields: tuple[Field, ...], intros: tuple[str, ...], core: tuple[str, ...]) -> Domain:
    return Domain(name, entity, fields, intros, core)


TRAIN: tuple[Domain, ...] = (
    D("contact", "contact card", (
        S("name", PEOPLE), S("email", EMAILS, "write to {v}", "email {v}"), S("phone", PHONES, "call {v}", "phone {v}"),
        S("company", ("Nordlys", "Brightwave", "Acme Tools", "Kestrel Labs", "Umbra Foods"), "works at {v}"),
        S("job_title", ("engineer", "designer", "accountant", "nurse", "teacher", "sales manager"), "works as a {v}", label="job title"),
        _address("lives at {street}, {city}", "address: {street}, {city}"),
        I("age", 19, 80, "is {v} years old", "age {v}"),
        B("is_customer", ("is already a customer", "is an existing customer"), ("is not a customer yet", "is a new lead"),
          label="customer")),
        ("Contact: {name}.", "Please add {name} to the address book.", "Met {name} today."), ("name",)),
    D("product", "product listing", (
        S("product_name", ("Trail Backpack", "Desk Lamp", "Steel Kettle", "Wool Scarf", "Phone Stand", "Yoga Mat"), label="product"),
        N("price", 3, 250, "costs {v}", "priced at {v}", "for {v}", money=True),
        E("color", COLORS, "in {v}", "color {v}"), I("stock", 0, 120, "{v} in stock", "{v} units left"),
        B("on_sale", ("is on sale", "is discounted this week"), ("is not on sale", "is at full price")),
        A("tags", ("outdoor", "kitchen", "gift", "eco", "travel", "office", "handmade"), "tagged {v}"),
        N("weight_kg", 1, 12, "weighs {v} kg", label="weight in kg"),
        S("brand", ("Nordlys", "Brightwave", "Lumo", "Tarka"), "made by {v}", "from {v}")),
        ("The {product_name} is back.", "New item: {product_name}.", "{product_name} listing."), ("product_name",)),
    D("restaurant_review", "restaurant review", (
        S("restaurant", ("Casa Lupa", "The Green Fork", "Sakura House", "Bistro 21", "Le Petit Coin", "Taj Garden")),
        I("rating", 1, 5, "I give it {v} stars", "rating {v} out of 5", "{v}/5"),
        E("cuisine", ("italian", "japanese", "french", "indian", "mexican", "vegan"), "{v} food", "cuisine: {v}"),
        N("bill", 12, 180, "we paid {v}", "the bill was {v}", money=True),
        B("would_return", ("we will come back", "I would go again"), ("never again", "I would not return"), label="would return"),
        A("dishes", ("risotto", "ramen", "tacos", "curry", "salad", "pizza", "dumplings", "soup"), "we had {v}", "ordered {v}"),
        S("city", CITIES, "in {v}"), I("party_size", 1, 10, "a table for {v}", "we were {v}", label="party size")),
        ("Dinner at {restaurant}.", "Review of {restaurant}:", "Went to {restaurant} last night."), ("restaurant",)),
    D("flight", "flight booking", (
        S("flight_number", ("AF1021", "LH440", "BA287", "KL1593", "IB3120", "SK905", "TP1348"), label="flight number"),
        S("origin", CITIES, "from {v}", "departing {v}"), S("destination", CITIES, "to {v}", "arriving in {v}"),
        S("date", DATES, "on {v}", "date {v}"), S("departure_time", TIMES, "leaves at {v}", "departs {v}", label="departure time"),
        E("cabin", ("economy", "premium", "business", "first"), "in {v}", "{v} class"),
        I("passengers", 1, 6, "{v} passengers", "for {v} people"),
        B("checked_bag", ("with a checked bag", "one bag checked"), ("hand luggage only", "no checked bag"), label="checked bag"),
        N("fare", 49, 1400, "fare {v}", "total {v}", money=True)),
        ("Booking {flight_number}.", "Flight {flight_number} confirmed.", "Your trip on {flight_number}:"), ("flight_number",)),
    D("meeting", "calendar event", (
        S("title", ("Budget review", "Team sync", "Design critique", "Quarterly planning", "Hiring panel", "Vendor call")),
        S("date", DATES, "on {v}"), S("start_time", TIMES, "at {v}", "starting {v}", label="start time"),
        I("duration_minutes", 15, 120, "for {v} minutes", "lasting {v} minutes", label="duration in minutes"),
        A("attendees", PEOPLE[:30], "with {v}", "attendees: {v}", size=(1, 3)),
        S("room", ("Room 4B", "Blue Room", "Atrium", "Room 210", "Lab 3"), "in {v}"),
        B("online", ("on video call", "online"), ("in person", "not online")),
        E("priority", ("low", "normal", "high"), "{v} priority", "priority {v}")),
        ("{title} scheduled.", "Calendar: {title}.", "Reminder, {title}."), ("title",)),
    D("job_posting", "job posting", (
        S("role", ("Data Analyst", "Backend Developer", "Store Manager", "Line Cook", "UX Researcher", "Lab Technician")),
        S("employer", ("Kestrel Labs", "Umbra Foods", "Brightwave", "Cityline Transit", "Nordlys"), "at {v}", "hiring: {v}"),
        S("location", CITIES, "based in {v}", "in {v}"), N("salary", 28000, 120000, "pays {v} a year", "salary {v}", money=True),
        B("remote", ("remote friendly", "can be done remotely"), ("on site only", "no remote work")),
        A("skills", ("SQL", "Python", "customer service", "scheduling", "Excel", "cooking", "statistics", "Figma"),
          "needs {v}", "skills: {v}"),
        E("contract", ("full-time", "part-time", "temporary", "internship"), "{v}", "contract: {v}"),
        I("experience_years", 0, 10, "{v} years of experience", "at least {v} years", label="years of experience")),
        ("Open position: {role}.", "We are hiring a {role}.", "Job: {role}."), ("role",)),
    D("apartment", "apartment listing", (
        _address("located at {street}, {city}", "{street} in {city}"),
        I("bedrooms", 1, 5, "{v} bedrooms", "{v} bed"), N("rent", 450, 3900, "rent {v} a month", "{v} per month", money=True),
        I("floor", 0, 12, "on floor {v}", "floor {v}"), B("furnished", ("furnished", "comes furnished"), ("unfurnished", "not furnished")),
        B("pets_allowed", ("pets welcome", "pets are allowed"), ("no pets", "pets not allowed"), label="pets allowed"),
        A("amenities", ("balcony", "elevator", "parking", "dishwasher", "garden", "laundry"), "has {v}", "with {v}"),
        N("area_m2", 25, 160, "{v} square meters", "{v} m2", label="area in m2")),
        ("Flat for rent.", "Apartment available now.", "Listing: apartment to let."), ()),
    D("book", "book record", (
        S("title", ("The Salt Road", "Quiet Engines", "A Map of Rain", "Winter Orchard", "The Ninth Bell", "Paper Tides")),
        S("author", PEOPLE, "by {v}", "written by {v}"), I("year", 1950, 2025, "published in {v}", "from {v}"),
        I("pages", 90, 900, "{v} pages", "runs {v} pages"),
        E("genre", ("mystery", "fantasy", "history", "romance", "science", "poetry"), "a {v} book", "genre: {v}"),
        B("available", ("available to borrow", "on the shelf"), ("checked out", "not available")),
        N("price", 4, 60, "sells for {v}", money=True), S("isbn", ("978-0-11", "978-1-42", "978-3-16", "978-9-07"), "ISBN {v}")),
        ("Catalog entry: {title}.", "Add {title} to the catalog.", "Book: {title}."), ("title",)),
    D("movie", "movie entry", (
        S("title", ("Iron Harvest", "Blue Hour", "Night Ferry", "Paper Moon Club", "The Long Tide", "Glass City")),
        S("director", PEOPLE, "directed by {v}", "from director {v}"), I("year", 1970, 2025, "released in {v}", "({v})"),
        I("runtime_minutes", 80, 190, "{v} minutes long", "runtime {v} min", label="runtime in minutes"),
        E("rating", ("G", "PG", "PG-13", "R"), "rated {v}"), A("cast", PEOPLE[30:60], "starring {v}", "with {v}", size=(1, 3)),
        B("streaming", ("now streaming", "available to stream"), ("cinemas only", "not streaming")),
        N("score", 1, 9, "scored {v}/10", "a {v} out of 10")),
        ("Movie night pick: {title}.", "Film: {title}.", "Watched {title}."), ("title",)),
    D("weather", "weather report", (
        S("city", CITIES), S("date", DATES, "for {v}", "on {v}"),
        I("high_c", 5, 38, "high of {v} C", "up to {v} degrees", label="high in C"),
        I("low_c", -10, 18, "low of {v} C", "down to {v} degrees", label="low in C"),
        E("condition", ("sunny", "cloudy", "rain", "snow", "storm", "fog"), "{v}", "expect {v}"),
        I("rain_chance", 0, 100, "{v}% chance of rain", "rain chance {v}%", label="rain chance"),
        N("wind_kmh", 0, 90, "wind {v} km/h", "winds of {v} km/h", label="wind in km/h"),
        B("alert", ("weather alert in place", "warning issued"), ("no alerts", "no warnings"))),
        ("Forecast for {city}.", "{city} weather.", "Weather in {city}:"), ("city",)),
    D("order", "purchase order", (
        S("order_id", ("A-1042", "B-2291", "C-0378", "D-5516", "E-7730", "F-0904"), label="order id"),
        S("customer", PEOPLE, "for {v}", "customer {v}"),
        OA("items", (S("name", ("notebook", "pen", "stapler", "mug", "charger", "cable", "lamp", "folder")),
                     I("quantity", 1, 9)), "{quantity} x {name}", "items: {v}", "ordered {v}", size=(1, 3)),
        N("total", 5, 600, "total {v}", "comes to {v}", money=True),
        E("status", ("pending", "paid", "shipped", "cancelled"), "status {v}", "now {v}"),
        B("gift_wrap", ("gift wrapped", "please gift wrap"), ("no gift wrap",), label="gift wrap"),
        S("ship_date", DATES, "ships {v}", label="ship date")),
        ("Order {order_id}.", "New order {order_id} received.", "Re: order {order_id}"), ("order_id",)),
    D("appointment", "medical appointment", (
        S("patient", PEOPLE), S("doctor", tuple(f"Dr. {s}" for s in LAST), "with {v}", "seeing {v}"),
        S("date", DATES, "on {v}"), S("time", TIMES, "at {v}"),
        E("department", ("cardiology", "dermatology", "pediatrics", "dental", "radiology"), "{v}", "in {v}"),
        B("first_visit", ("first visit", "new patient"), ("follow-up", "returning patient"), label="first visit"),
        B("fasting_required", ("must fast before", "fasting required"), ("no fasting needed",), label="fasting required"),
        I("room", 1, 40, "room {v}")),
        ("Appointment for {patient}.", "{patient} is booked.", "Patient {patient}:"), ("patient",)),
    D("car_listing", "used car ad", (
        S("make", ("Toyota", "Volvo", "Fiat", "Skoda", "Honda", "Renault", "Mazda")),
        S("model", ("Corolla", "V60", "Panda", "Octavia", "Civic", "Clio", "CX-5")),
        I("year", 2005, 2025, "from {v}", "year {v}"), I("mileage_km", 5000, 250000, "{v} km", "mileage {v} km", label="mileage in km"),
        N("price", 1500, 45000, "asking {v}", "for {v}", money=True), E("fuel", ("petrol", "diesel", "hybrid", "electric"), "{v}"),
        E("color", COLORS, "{v} paint", "in {v}"), B("automatic", ("automatic gearbox", "automatic"), ("manual gearbox", "manual"))),
        ("For sale: {make} {model}.", "Selling my {make} {model}.", "{make} {model} ad."), ("make", "model")),
    D("hotel", "hotel booking", (
        S("hotel", ("Hotel Mira", "Harbour Inn", "Casa Blanca", "Alpine Lodge", "The Linden", "Park View")),
        S("guest", PEOPLE, "for {v}", "guest {v}"), S("check_in", DATES, "check-in {v}", "arriving {v}", label="check-in"),
        I("nights", 1, 14, "{v} nights", "staying {v} nights"), I("guests", 1, 6, "{v} guests", "for {v} people"),
        E("room_type", ("single", "double", "twin", "suite"), "a {v} room", "room: {v}", label="room type"),
        B("breakfast", ("breakfast included", "with breakfast"), ("room only", "no breakfast")),
        A("extras", ("parking", "late checkout", "airport shuttle", "spa"), "extras: {v}", "add {v}", enum=True, size=(1, 2)),
        N("price_per_night", 40, 420, "{v} per night", "{v} a night", money=True, label="price per night")),
        ("Reservation at {hotel}.", "{hotel} booking.", "Booked {hotel}."), ("hotel",)),
    D("recipe", "recipe card", (
        S("dish", ("Lentil Soup", "Lemon Cake", "Chickpea Curry", "Pasta Bake", "Berry Pancakes", "Garlic Bread")),
        I("servings", 1, 10, "serves {v}", "for {v} people"), I("prep_minutes", 5, 90, "{v} minutes to prepare", "prep {v} min",
                                                                    label="prep minutes"),
        A("ingredients", ("lentils", "flour", "eggs", "garlic", "lemon", "rice", "butter", "tomatoes", "milk"),
          "you need {v}", "ingredients: {v}", size=(2, 4)),
        E("difficulty", ("easy", "medium", "hard"), "{v}", "difficulty: {v}"),
        A("diet", ("gluten-free", "dairy-free", "nut-free", "low-sugar"), "{v}", "suitable as {v}", enum=True, size=(1, 2)),
        B("vegetarian", ("vegetarian", "meat-free"), ("contains meat", "not vegetarian")),
        I("calories", 120, 900, "{v} calories", "{v} kcal")),
        ("Recipe: {dish}.", "How to make {dish}.", "{dish} for tonight."), ("dish",)),
    D("support_ticket", "support ticket", (
        S("ticket_id", ("T-301", "T-482", "T-519", "T-660", "T-774", "T-905"), label="ticket id"),
        S("customer", PEOPLE, "from {v}", "reported by {v}"),
        E("category", ("billing", "login", "bug", "shipping", "refund"), "about {v}", "category {v}"),
        E("priority", ("low", "medium", "high", "urgent"), "{v} priority", "priority {v}"),
        S("product", ("mobile app", "web portal", "router", "smart plug", "printer"), "with the {v}", "on the {v}"),
        B("resolved", ("now resolved", "fixed"), ("still open", "not resolved")),
        I("replies", 0, 12, "{v} replies so far", "{v} messages")),
        ("Ticket {ticket_id}.", "New ticket {ticket_id}.", "Support case {ticket_id}:"), ("ticket_id",)),
    D("gym_class", "fitness class", (
        S("class_name", ("Spin 45", "Morning Yoga", "Boxfit", "Pilates Core", "HIIT Blast"), label="class name"),
        S("instructor", PEOPLE, "led by {v}", "coach {v}"), E("day", WEEKDAYS, "every {v}", "on {v}"),
        S("time", TIMES, "at {v}"), I("spots", 0, 30, "{v} spots left", "{v} places"),
        E("level", ("beginner", "intermediate", "advanced"), "{v} level", "for {v}"),
        N("fee", 5, 40, "costs {v}", "drop-in {v}", money=True), B("equipment_provided", ("mats provided", "equipment provided"),
                                                                   ("bring your own mat", "no equipment"), label="equipment provided")),
        ("{class_name} this week.", "Class: {class_name}.", "Join {class_name}."), ("class_name",)),
    D("invoice", "invoice", (
        S("invoice_number", ("INV-1001", "INV-2040", "INV-3315", "INV-4872", "INV-5509"), label="invoice number"),
        S("vendor", ("Acme Tools", "Umbra Foods", "Cityline Transit", "Lumo", "Brightwave"), "from {v}", "vendor {v}"),
        S("due_date", DATES, "due {v}", "payable by {v}", label="due date"), N("amount", 20, 9000, "amount {v}", "for {v}", money=True),
        E("currency", ("USD", "EUR", "GBP", "JPY"), "in {v}", "currency {v}"),
        B("paid", ("already paid", "settled"), ("unpaid", "not paid yet")),
        OA("lines", (S("description", ("consulting", "hosting", "repairs", "catering", "licenses")), N("cost", 10, 2000, money=True)),
           "{description} {cost}", "lines: {v}", "covers {v}", size=(1, 3))),
        ("Invoice {invoice_number}.", "Please process {invoice_number}.", "Bill {invoice_number}:"), ("invoice_number",)),
)

PETS = ("Biscuit", "Luna", "Pepper", "Milo", "Hazel", "Rocco", "Juniper", "Ziggy")
ARTISTS = ("The Velvet Owls", "Marisol Vega", "Northbound", "DJ Kiko", "Aurora Lane", "The Copper Kings")
HELDOUT: tuple[Domain, ...] = (
    D("pet_adoption", "pet adoption profile", (
        S("pet_name", PETS, label="pet name"), E("species", ("dog", "cat", "rabbit", "parrot"), "a {v}", "species: {v}"),
        S("breed", ("beagle", "tabby", "lop", "collie", "siamese", "terrier"), "a {v} mix", "breed {v}"),
        I("age_months", 2, 120, "{v} months old", "age {v} months", label="age in months"),
        B("vaccinated", ("fully vaccinated", "has all shots"), ("not vaccinated yet", "no shots yet")),
        B("good_with_kids", ("great with kids", "good with children"), ("not suited to kids", "no small children"),
          label="good with kids"),
        N("adoption_fee", 20, 300, "adoption fee {v}", "fee {v}", money=True, label="adoption fee"),
        S("shelter", ("Happy Paws", "Second Chance", "Tails Rescue", "Oak Shelter"), "at {v}", "shelter: {v}"),
        A("traits", ("playful", "calm", "shy", "house-trained", "curious", "loves walks"), "described as {v}", "traits: {v}")),
        ("Meet {pet_name}!", "Adopt {pet_name}.", "{pet_name} needs a home."), ("pet_name",)),
    D("concert", "concert ticket", (
        S("artist", ARTISTS), O("venue", (S("name", ("Roundhouse", "Blue Hall", "Arena Nord", "The Cellar")), S("city", CITIES)),
                                "at {name} in {city}", "venue: {name}, {city}"),
        S("date", DATES, "on {v}"), S("doors_open", TIMES, "doors at {v}", "doors open {v}", label="doors open"),
        N("ticket_price", 15, 220, "tickets {v}", "{v} each", money=True, label="ticket price"),
        E("section", ("floor", "balcony", "standing", "vip"), "{v} section", "seat: {v}"),
        I("quantity", 1, 6, "{v} tickets", "x{v}"), B("sold_out", ("sold out", "all tickets gone"), ("not sold out", "tickets still available"),
                                                      label="sold out")),
        ("{artist} live!", "Concert: {artist}.", "Tickets for {artist}."), ("artist",)),
    D("online_course", "course listing", (
        S("course_title", ("Intro to Pottery", "Spanish for Travel", "Data Viz Basics", "Guitar in 30 Days", "Home Bread"),
          label="course title"),
        S("teacher", PEOPLE, "taught by {v}", "teacher {v}"), I("lessons", 4, 40, "{v} lessons", "{v} videos"),
        N("hours", 2, 60, "{v} hours total", "about {v} hours"), E("level", ("beginner", "intermediate", "advanced"), "{v} level"),
        A("topics", ("glazing", "grammar", "charts", "chords", "sourdough", "wheel throwing", "listening", "colour"),
          "covers {v}", "topics: {v}", size=(2, 3)),
        B("certificate", ("certificate included", "you get a certificate"), ("no certificate",)),
        N("price", 0, 199, "price {v}", "costs {v}", money=True)),
        ("New course: {course_title}.", "{course_title} is open.", "Course {course_title}:"), ("course_title",)),
    D("parcel", "parcel shipment", (
        S("tracking_code", ("ZX4410", "QP8821", "LM2093", "RT5567", "KD0038"), label="tracking code"),
        S("carrier", ("SwiftPost", "Polar Express", "RedKite", "Coastline Freight"), "via {v}", "carrier {v}"),
        O("sender", (S("name", PEOPLE), S("city", CITIES)), "sent by {name} from {city}", "sender: {name}, {city}"),
        N("weight_kg", 1, 30, "weighs {v} kg", "{v} kg", label="weight in kg"),
        E("service", ("standard", "express", "overnight"), "{v} service", "{v} delivery"),
        B("signature_required", ("signature required", "must be signed for"), ("no signature needed", "signature not required"),
          label="signature required"),
        S("eta", DATES, "arrives {v}", "expected {v}")),
        ("Parcel {tracking_code}.", "Shipment {tracking_code} update.", "Tracking {tracking_code}:"), ("tracking_code",)),
    D("campsite", "campsite booking", (
        S("campground", ("Pine Hollow", "Lakeside Camp", "Red Rock Flats", "Fern Valley"), label="campground"),
        I("site_number", 1, 90, "site {v}", "pitch {v}", label="site number"), S("arrival", DATES, "arriving {v}", "from {v}"),
        I("nights", 1, 10, "{v} nights"), I("tents", 1, 4, "{v} tents", "{v} tent pitches"),
        B("electric_hookup", ("with electric hookup", "power included"), ("no electricity", "no hookup"), label="electric hookup"),
        A("activities", ("kayaking", "hiking", "fishing", "stargazing", "swimming"), "plans: {v}", "want to do {v}", size=(1, 3)),
        N("fee", 12, 140, "fee {v}", "total {v}", money=True)),
        ("Camping at {campground}.", "{campground} reservation.", "Booking for {campground}."), ("campground",)),
    D("laptop", "laptop spec sheet", (
        S("model_name", ("Zephyr 14", "Orbit Pro", "Falcon X2", "Nimbus Air", "Atlas 16"), label="model name"),
        I("ram_gb", 4, 64, "{v} GB RAM", "RAM {v} GB", label="RAM in GB"), I("storage_gb", 128, 2048, "{v} GB SSD", "storage {v} GB",
                                                                               label="storage in GB"),
        N("screen_inches", 11, 17, "{v} inch screen", "{v}-inch display", label="screen inches"),
        E("os", ("windows", "linux", "chromeos", "macos"), "runs {v}", "OS: {v}"),
        B("touchscreen", ("touchscreen", "touch display"), ("no touchscreen", "non-touch screen")),
        N("price", 199, 3200, "price {v}", "for {v}", money=True),
        A("ports", ("usb-c", "hdmi", "usb-a", "sd card", "ethernet"), "ports: {v}", "has {v}", size=(1, 3))),
        ("Spec sheet: {model_name}.", "The {model_name} laptop.", "{model_name} specs:"), ("model_name",)),
)

DOMAINS: dict[str, Domain] = {d.name: d for d in TRAIN + HELDOUT}
TRAIN_DOMAINS = tuple(d.name for d in TRAIN)
HELDOUT_DOMAINS = tuple(d.name for d in HELDOUT)


def all_keys(domains: tuple[str, ...]) -> set[str]:
    """Every top-level key the named domains can ask for."""
    return {f.key for name in domains for f in DOMAINS[name].fields}
