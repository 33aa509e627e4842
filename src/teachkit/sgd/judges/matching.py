"""What the acts judge reads a response with: text normalised for matching (numbers as digits, dates and times in
the forms people say them, crude stems), a value matched against a response in any of those forms, and the
vocabulary of SGD's slots, intents and act cues. The scoring that uses it is `acts.py`."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata

# --- text normalisation shared by the acts judge -------------------------------------------------------------

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
}
STOPWORDS = {
    "a", "an", "the", "of", "at", "in", "on", "and", "or", "to", "for", "with", "is", "by", "from", "de", "la",
}
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b")
DIGITS = re.compile(r"\d+")
_TIME_24 = re.compile(r"^(\d{1,2}):(\d{2})$")
_TIME_12 = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
TIME_IN_TEXT = re.compile(r"\b(\d{1,2})(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.)|\b(\d{1,2}):\d{2}\b", re.IGNORECASE)


def normalize(text: str) -> str:
    """Lowercase ASCII words and numbers separated by single spaces: accents, punctuation and ordinals dropped,
    number words and zero-padded numbers written as plain digits, `&` as `and`."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = text.replace("&", " and ").replace("'", "").replace("\u2019", "")
    text = _ORDINAL.sub(r"\1", text)
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    out = []
    for word in words:
        if word.isdigit():
            out.append(str(int(word)))
        elif word in NUMBER_WORDS:
            out.append(str(NUMBER_WORDS[word]))
        else:
            out.append(word)
    return " ".join(out)


def stem(word: str) -> str:
    """A crude stem, enough to match `seats`/`seat`, `booked`/`book`, `reservation`/`reserve`, `cities`/`city`."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ations", "ation", "ings", "ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def contains_phrase(haystack: str, phrase: str) -> bool:
    """Whole-word containment of one normalised text in another."""
    return bool(phrase) and f" {phrase} " in f" {haystack} "


def value_variants(value: str) -> list[str]:
    """Normalised ways a service value can be said: `19:30` is also `7 30 pm`; `2019-03-07` is `march 7`."""
    raw = value.strip()
    variants = [normalize(raw)]
    time_match = _TIME_24.match(raw)
    if time_match:
        hour, minute = int(time_match.group(1)), int(time_match.group(2))
        suffix = "pm" if hour >= 12 else "am"
        hour12 = hour % 12 or 12
        spoken = f"{hour12}" if minute == 0 else f"{hour12} {minute}"
        variants += [f"{spoken} {suffix}", f"{hour12} {minute}"]
        if hour == 12 and minute == 0:
            variants.append("noon")
    time_match = _TIME_12.match(raw)
    if time_match:
        hour, minute = int(time_match.group(1)) % 12, int(time_match.group(2) or 0)
        if time_match.group(3).lower().startswith("p"):
            hour += 12
        variants += [f"{hour} {minute}", f"{hour % 12 or 12} {minute}"]
    date_match = _ISO_DATE.match(raw)
    if date_match:
        year, month, day = (int(part) for part in date_match.groups())
        month_name = calendar.month_name[month].lower() if 1 <= month <= 12 else ""
        variants += [f"{month_name} {day}", f"{day} {month_name}", f"{day} of {month_name}"]
        try:
            variants.append(calendar.day_name[dt.date(year, month, day).weekday()].lower())
        except ValueError:
            pass
    if raw.startswith("$"):
        variants.append(normalize(raw[1:]))
    return [v for v in dict.fromkeys(variants) if v]


def is_boolean(value: str) -> bool:
    return value.strip().lower() in {"true", "false"}


def value_match(value: str, response_norm: str, response_tokens: set[str]) -> float:
    """1.0 when a form of `value` appears whole in the response; else the share of the value's content words
    present, when at least half are (`Dr. Alvarez Family Dental` vs `Alvarez Family Dental`); else 0."""
    variants = value_variants(value)
    if any(contains_phrase(response_norm, v) for v in variants):
        return 1.0
    words = [w for w in variants[0].split() if w not in STOPWORDS] if variants else []
    # Partial credit is for names; a time, date or number is either said or not.
    if not words or any(w.isdigit() for w in words):
        return 0.0
    present = sum(1 for w in words if w in response_tokens)
    recall = present / len(words)
    return recall if recall >= 0.5 and len(words) > 1 else 0.0


# --- slot and act vocabulary ------------------------------------------------------------------------------------

# Slot-name words too generic to show that a slot is being talked about.
GENERIC_SLOT_WORDS = {"name", "number", "of", "new", "type", "is", "in", "out", "to", "the", "total", "good", "for",
                      "free", "shared", "private", "has", "id", "from", "by", "at", "with"}
# How people say a slot's word without its name: "how many people" asks number_of_seats. Keys are slot-name words.
HOW_MANY = ["how many", "people", "person", "party", "seat", "ticket", "traveler", "passenger", "guest", "adult"]
SLOT_SYNONYMS = {
    "date": ["day", "when", "which day"],
    "time": ["when", "what time"],
    "seats": HOW_MANY, "tickets": HOW_MANY, "travelers": HOW_MANY, "passengers": HOW_MANY, "riders": HOW_MANY,
    "adults": HOW_MANY, "group": HOW_MANY, "size": HOW_MANY, "people": HOW_MANY,
    "city": ["where", "area", "location", "town"],
    "location": ["where", "area", "city", "place"],
    "area": ["where", "city", "location"],
    "where": ["city", "location", "area"],
    "destination": ["where", "going", "to"],
    "origin": ["where", "from", "leaving"],
    "cuisine": ["food", "kind", "type", "mood"],
    "price": ["budget", "cheap", "expensive", "moderate", "cost", "pricey"],
    "rating": ["star", "rated"],
    "star": ["rating", "rated"],
    "genre": ["kind", "type", "mood"],
    "category": ["kind", "type", "mood"],
    "subcategory": ["kind", "type"],
    "movie": ["film"],
    "film": ["movie"],
    "artist": ["singer", "band", "by"],
    "song": ["track", "title"],
    "amount": ["how much"],
    "balance": ["how much"],
    "account": ["checking", "saving"],
    "phone": ["call", "contact"],
    "address": ["where", "located", "street"],
    "stylist": ["salon", "hairdresser"],
    "doctor": ["dr"],
    "dentist": ["dr"],
    "therapist": ["dr"],
    "departure": ["leave", "leaving", "depart"],
    "leaving": ["leave", "depart", "departure"],
    "journey": ["travel", "trip", "leave", "leaving", "depart", "go"],
    "return": ["back", "come back"],
    "rooms": ["how many"],
    "check": ["stay", "arrive"],
    "class": ["seat", "economy", "business", "first"],
    "seating": ["seat", "economy", "business", "first"],
}
# A slot named from_X / to_X also answers to where someone leaves from / goes to.
DIRECTION_SYNONYMS = {
    "from": ["from", "leaving", "depart", "departure", "origin", "start"],
    "to": ["to", "going", "destination", "headed", "arrive"],
}
# Words that show an act was performed.
ASK_CUES = re.compile(
    r"\b(please (confirm|provide|tell|let me know|specify|choose)|could you|can you|would you|do you|did you|shall i"
    r"|should i|is that (correct|right|ok)|let me know|which one|what about|how about)\b"
)
SUCCESS_CUES = re.compile(
    r"\b(booked|reserved|confirmed|successful|successfully|success|is set|all set|done|completed|scheduled|placed"
    r"|has been|have been|went through|purchased|bought|transferred|sent|added|made|set up)\b"
)
FAILURE_CUES = re.compile(
    r"\b(sorry|unable|couldnt|could not|cant|cannot|can not|failed|fail|unfortunately|not able|wasnt able"
    r"|didnt work|did not work|not possible)\b"
)
REQ_MORE_CUES = re.compile(
    r"\b(anything else|something else|else i can|any other|anything more|more help|help you with|assist you"
    r"|further|help with anything)\b"
)
NEGATION_CUES = re.compile(r"\b(no|not|dont|doesnt|isnt|arent|wont|without|never|none)\b")
GOODBYE_CUES = re.compile(
    r"\b(goodbye|good bye|bye|have a (great|good|nice|wonderful|lovely|pleasant)|take care|enjoy your|see you)\b"
)
INTENT_SYNONYMS = {
    "reserve": ["book", "reservation", "table"],
    "book": ["reserve", "reservation", "schedule", "appointment"],
    "buy": ["purchase", "ticket", "get"],
    "purchase": ["buy", "ticket"],
    "rent": ["rental", "book", "reserve"],
    "schedule": ["book", "appointment", "visit"],
    "make": ["book", "send", "set"],
    "transfer": ["send", "payment", "pay"],
    "play": ["listen", "watch", "start"],
    "add": ["set", "create"],
    "get": ["find", "check"],
    "find": ["search", "look"],
}
SNAKE_TOKEN = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")


def slot_words(slot: str) -> set[str]:
    """Stemmed words that name a slot (`number_of_seats` -> {seat}) plus their synonyms."""
    raw = [w for w in slot.lower().split("_") if w]
    words = [w for w in raw if w not in GENERIC_SLOT_WORDS]
    synonyms = [synonym for w in words for synonym in SLOT_SYNONYMS.get(w, [])]
    if raw and raw[0] in DIRECTION_SYNONYMS:
        synonyms += DIRECTION_SYNONYMS[raw[0]]
    return {" ".join(stem(part) for part in phrase.split()) for phrase in words + synonyms}


def intent_words(intent: str) -> set[str]:
    """`ReserveRestaurant` -> {reserv, restaurant, book, ...}."""
    words = {w.lower() for w in re.findall(r"[A-Z][a-z]+|[a-z]+", intent)}
    expanded = {stem(w) for w in words}
    for word in words:
        expanded.update(stem(s) for s in INTENT_SYNONYMS.get(word, []))
    return expanded


# The slot vocabulary of the public SGD schemas (names only), used to notice a response that asks for slots the
# reference turn does not ask for: the one way to score well on REQUEST turns by listing every slot name.
SGD_SLOT_NAMES = (
    "city date time number_of_seats restaurant_name cuisine price_range location street_address phone_number"
    " has_live_music serves_alcohol rating category event_name event_type subcategory number_of_tickets venue"
    " venue_address address from_location to_location departure_date departure_time leaving_date leaving_time"
    " fare travelers group_size origin destination origin_city destination_city airlines seating_class passengers"
    " return_date number_of_rooms check_in_date check_out_date hotel_name star_rating pets_welcome number_of_adults"
    " where_to area appointment_date appointment_time stylist_name doctor_name dentist_name therapist_name"
    " movie_name genre show_time show_date theater_name show_type starring directed_by title song_name artist"
    " album year playback_device recipient_account_name amount account_type balance payment_method receiver"
    " pickup_location pickup_date pickup_time dropoff_date car_type car_name total_price ride_type number_of_riders"
    " attraction_name good_for_kids humidity wind precipitation temperature alarm_time alarm_name event_date"
    " event_time event_location visit_date property_name number_of_beds number_of_baths rent furnished"
    " insurance price"
).split()


def slot_vocabulary() -> dict[str, str]:
    """Stem -> the word as written (for messages), first spelling first."""
    vocabulary: dict[str, str] = {}
    for name in SGD_SLOT_NAMES:
        for word in name.split("_"):
            if word not in GENERIC_SLOT_WORDS:
                vocabulary.setdefault(stem(word), word)
    return vocabulary


SLOT_VOCABULARY = slot_vocabulary()
