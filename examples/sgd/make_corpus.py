"""Write teachkit's example corpus: dialogues in the DSTC8 Schema-Guided Dialogue format, made up for this project.

    python examples/sgd/make_corpus.py                      # rewrites src/teachkit/data/sgd_example/{train,dev,test}
    python examples/sgd/make_corpus.py --out /tmp/sgd-big --train 16000 --dev 0 --test 0 --per-file 128

Nothing here comes from the SGD dataset: the four services, their schemas, the names, places and sentences are
written for teachkit. Only the file layout and the JSON shape (turns, frames, actions, state, service calls and
results) follow the dataset, so that everything teachkit does with the real data can be run and tested on this.
The output is a pure function of the arguments: the same command writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

# The corpus ships inside the package (teachkit.data), so that a wheel install has it too.
PACKAGED = Path(__file__).resolve().parents[2] / "src" / "teachkit" / "data" / "sgd_example"
START_DAY = date(2026, 3, 2)

CITIES = [
    "Fremont", "Oakland", "San Jose", "Sacramento", "Portland", "Seattle", "Denver", "Austin",
    "Chicago", "Boston", "San Diego", "Phoenix", "Santa Rosa", "Fresno",
]
STREETS = ["Maple", "Harbor", "Mission", "Lincoln", "Cedar", "Willow", "Park", "Lake", "Sunset", "Grant"]
STREET_KINDS = ["Street", "Avenue", "Boulevard", "Road", "Way"]
AREA_CODES = ["415", "510", "408", "916", "503", "206", "303", "512", "312", "617", "619", "602"]
SURNAMES = ["Alvarez", "Chen", "Okafor", "Lindqvist", "Patel", "Moreau", "Nakamura", "Kowalski", "Haddad", "Byrne"]
NAME_FIRST = ["Golden", "Blue", "Little", "Silver", "Red", "Old Town", "Harbor", "Olive", "Copper", "Maple", "Sunny"]
NAME_SECOND = ["Lantern", "Spoon", "Table", "Garden", "Kitchen", "Bistro", "Grill", "Corner", "Pantry", "Terrace"]
CUISINES = ["Italian", "Mexican", "Chinese", "Indian", "Thai", "Japanese", "Mediterranean", "American"]
CUISINE_WORD = {
    "Italian": "Trattoria", "Mexican": "Taqueria", "Chinese": "Dumpling House", "Indian": "Tandoor",
    "Thai": "Thai Kitchen", "Japanese": "Sushi Bar", "Mediterranean": "Mezze", "American": "Diner",
}
PRICES = ["inexpensive", "moderate", "expensive"]
TRAIN_CLASSES = ["Value", "Flexible", "Business"]
STATION_KINDS = ["Union Station", "Central Station", "Amtrak Station", "Transit Center"]
MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
]


# --- Schemas ---------------------------------------------------------------------------------------------------


def slot(name: str, description: str, values: list[str] | None = None) -> dict:
    return {
        "name": name,
        "description": description,
        "is_categorical": values is not None,
        "possible_values": values or [],
    }


def intent(name: str, description: str, transactional: bool, required: list[str], optional: dict[str, str],
           results: list[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "is_transactional": transactional,
        "required_slots": required,
        "optional_slots": optional,
        "result_slots": results,
    }


SCHEMAS = {
    "Restaurants_7": {
        "service_name": "Restaurants_7",
        "description": "Find restaurants by city and cuisine and reserve a table",
        "slots": [
            slot("restaurant_name", "Name of the restaurant"),
            slot("city", "City where the restaurant is"),
            slot("cuisine", "Kind of food served", CUISINES),
            slot("price_range", "How expensive the restaurant is", PRICES),
            slot("street_address", "Street address of the restaurant"),
            slot("phone_number", "Phone number of the restaurant"),
            slot("has_vegetarian_options", "Whether the menu has vegetarian dishes", ["True", "False"]),
            slot("date", "Date of the reservation"),
            slot("time", "Time of the reservation"),
            slot("party_size", "Number of people in the party", ["1", "2", "3", "4", "5", "6"]),
        ],
        "intents": [
            intent("FindRestaurants", "Search for restaurants in a city that serve a cuisine", False,
                   ["city", "cuisine"], {"price_range": "dontcare", "has_vegetarian_options": "dontcare"},
                   ["restaurant_name", "city", "cuisine", "price_range", "street_address", "phone_number",
                    "has_vegetarian_options"]),
            intent("ReserveTable", "Reserve a table at a restaurant", True,
                   ["restaurant_name", "city", "time"], {"date": "today", "party_size": "2"},
                   ["restaurant_name", "city", "date", "time", "party_size", "street_address", "phone_number"]),
        ],
    },
    "Dentists_9": {
        "service_name": "Dentists_9",
        "description": "Find a dentist and book a visit",
        "slots": [
            slot("dentist_name", "Name of the dentist or practice"),
            slot("city", "City of the practice"),
            slot("address", "Street address of the practice"),
            slot("phone_number", "Phone number of the practice"),
            slot("offers_cosmetic_services", "Whether the practice offers cosmetic dentistry", ["True", "False"]),
            slot("appointment_date", "Date of the appointment"),
            slot("appointment_time", "Time of the appointment"),
        ],
        "intents": [
            intent("FindDentist", "Search dentists in a city", False, ["city"],
                   {"offers_cosmetic_services": "dontcare"},
                   ["dentist_name", "city", "address", "phone_number", "offers_cosmetic_services"]),
            intent("BookAppointment", "Book an appointment with a dentist", True,
                   ["dentist_name", "appointment_date", "appointment_time"], {},
                   ["dentist_name", "appointment_date", "appointment_time", "address", "phone_number"]),
        ],
    },
    "Weather_4": {
        "service_name": "Weather_4",
        "description": "Check the weather forecast for a city",
        "slots": [
            slot("city", "City of the forecast"),
            slot("date", "Date of the forecast"),
            slot("temperature", "Average temperature in degrees Fahrenheit"),
            slot("precipitation", "Chance of rain in percent"),
            slot("humidity", "Relative humidity in percent"),
            slot("wind", "Average wind speed in miles per hour"),
        ],
        "intents": [
            intent("GetWeather", "Get the weather forecast for a city on a date", False, ["city"],
                   {"date": "today"}, ["city", "date", "temperature", "precipitation", "humidity", "wind"]),
        ],
    },
    "Trains_5": {
        "service_name": "Trains_5",
        "description": "Find trains between cities and buy tickets",
        "slots": [
            slot("from_city", "City the journey starts in"),
            slot("to_city", "City the journey ends in"),
            slot("date_of_journey", "Date of the journey"),
            slot("journey_start_time", "Departure time of the train"),
            slot("from_station", "Station the train leaves from"),
            slot("to_station", "Station the train arrives at"),
            slot("number_of_adults", "Number of tickets", ["1", "2", "3", "4", "5"]),
            slot("class", "Fare class", TRAIN_CLASSES),
            slot("total", "Total price of the tickets in dollars"),
        ],
        "intents": [
            intent("FindTrains", "Find trains between two cities on a date", False,
                   ["from_city", "to_city", "date_of_journey"], {"number_of_adults": "1", "class": "Value"},
                   ["from_city", "to_city", "from_station", "to_station", "date_of_journey", "journey_start_time",
                    "number_of_adults", "class", "total"]),
            intent("GetTrainTickets", "Buy tickets for a train", True,
                   ["from_city", "to_city", "date_of_journey", "journey_start_time", "number_of_adults"],
                   {"class": "Value"},
                   ["from_city", "to_city", "from_station", "to_station", "date_of_journey", "journey_start_time",
                    "number_of_adults", "class", "total"]),
        ],
    },
}

# How each kind of value is said aloud; the canonical form goes into service calls, results and canonical_values.
VALUE_KINDS = {
    "date": "date", "appointment_date": "date", "date_of_journey": "date",
    "time": "time", "appointment_time": "time", "journey_start_time": "time",
    "total": "money", "temperature": "degrees", "precipitation": "percent", "humidity": "percent", "wind": "mph",
}


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def spoken(slot_name: str, canonical: str, today: date) -> str:
    kind = VALUE_KINDS.get(slot_name)
    if kind == "date":
        day = date.fromisoformat(canonical)
        if day == today:
            return "today"
        if day == today + timedelta(days=1):
            return "tomorrow"
        return f"{MONTHS[day.month - 1]} {ordinal(day.day)}"
    if kind == "time":
        hour, minute = (int(part) for part in canonical.split(":"))
        half = "am" if hour < 12 else "pm"
        hour12 = hour % 12 or 12
        return f"{hour12} {half}" if minute == 0 else f"{hour12}:{minute:02d} {half}"
    if kind == "money":
        return f"${canonical}"
    return canonical


# --- What people say -------------------------------------------------------------------------------------------
# Templates name the slots they mention as {fields}; the acts of a turn follow from the fields it used.


@dataclass
class Flow:
    service: str
    search: str
    transaction: str | None
    opening: list[str]
    tell: dict[str, list[str]]
    ask: dict[str, list[str]]
    offer: list[str]
    offer_more: list[str]
    user_request: dict[str, list[str]]
    inform: dict[str, list[str] | dict[str, list[str]]]
    want_transaction: list[str] = field(default_factory=list)
    offer_intent: list[str] = field(default_factory=list)
    confirm: list[str] = field(default_factory=list)
    success: list[str] = field(default_factory=list)
    failure: list[str] = field(default_factory=list)
    # transaction slot -> the search result slot it is copied from
    from_result: dict[str, str] = field(default_factory=dict)
    # transaction slots the user must give (asked for when missing), and ones a user may change at CONFIRM
    ask_for_transaction: list[str] = field(default_factory=list)
    changeable: list[str] = field(default_factory=list)


FLOWS = {
    "Restaurants_7": Flow(
        service="Restaurants_7",
        search="FindRestaurants",
        transaction="ReserveTable",
        opening=[
            "I'm hungry, can you find me a place to eat?",
            "Can you help me find a restaurant?",
            "I'd like to find somewhere to have dinner.",
            "Find me a good restaurant, please.",
            "I want to eat out tonight. Any suggestions?",
        ],
        tell={
            "city": ["It should be in {city}.", "Somewhere in {city}.", "I'm in {city}.", "Look in {city}."],
            "cuisine": ["I feel like {cuisine} food.", "Something {cuisine}.", "{cuisine} would be great."],
            "price_range": ["Something {price_range}, please.", "Keep it {price_range}."],
            "time": ["Around {time}.", "Make it {time}.", "At {time}, please."],
            "date": ["For {date}.", "The reservation is for {date}."],
            "party_size": ["There will be {party_size} of us.", "A table for {party_size}."],
        },
        ask={
            "city": ["Which city should I look in?", "What city are you in?", "In which city?"],
            "cuisine": ["What kind of food would you like?", "Any cuisine in mind?", "What are you in the mood for?"],
            "time": ["What time would you like the table?", "At what time?", "When should I book it for?"],
        },
        offer=[
            "I found {count} restaurants. {restaurant_name} in {city} is a good one.",
            "There are {count} places you might like. How about {restaurant_name} in {city}?",
            "{restaurant_name} is a {price_range} restaurant in {city}. I found {count} in total.",
        ],
        offer_more=[
            "How about {restaurant_name} in {city}?",
            "{restaurant_name} is another option in {city}.",
            "There is also {restaurant_name}, which is {price_range}.",
        ],
        user_request={
            "street_address": ["What's their address?", "Where is it exactly?"],
            "phone_number": ["Can I have their phone number?", "What's the phone number?"],
            "price_range": ["Is it expensive?", "How pricey is it?"],
            "has_vegetarian_options": ["Do they have vegetarian food?", "Any vegetarian dishes?"],
        },
        inform={
            "street_address": ["They're at {street_address}.", "The address is {street_address}."],
            "phone_number": ["Their number is {phone_number}.", "You can call them at {phone_number}."],
            "price_range": ["It's {price_range}.", "Prices there are {price_range}."],
            "has_vegetarian_options": {
                "True": ["Yes, they have vegetarian options.", "They do serve vegetarian dishes."],
                "False": ["No, they have no vegetarian dishes.", "Sadly they don't have vegetarian options."],
            },
        },
        want_transaction=[
            "That sounds good. Can you book a table there?",
            "Great, please reserve a table.",
            "I'd like to make a reservation there.",
        ],
        offer_intent=["Would you like to reserve a table?", "Shall I book a table there?"],
        confirm=[
            "Please confirm: a table for {party_size} at {restaurant_name} in {city}, {date} at {time}.",
            "Just to check: {restaurant_name} in {city}, {date} at {time}, for {party_size} people. Right?",
        ],
        success=["Your table is booked.", "Done, your reservation is confirmed.", "I've made the reservation."],
        failure=["Sorry, I couldn't book that table.", "I'm sorry, the reservation did not go through."],
        from_result={"restaurant_name": "restaurant_name", "city": "city"},
        ask_for_transaction=["time"],
        changeable=["party_size", "time", "date"],
    ),
    "Dentists_9": Flow(
        service="Dentists_9",
        search="FindDentist",
        transaction="BookAppointment",
        opening=[
            "I need to see a dentist.",
            "Can you find me a dentist?",
            "My tooth hurts, I need a dentist.",
            "I'm looking for a new dentist.",
        ],
        tell={
            "city": ["I live in {city}.", "One in {city}, please.", "Somewhere near {city}."],
            "appointment_date": ["{appointment_date} would be best.", "Can I come in {appointment_date}?"],
            "appointment_time": ["At {appointment_time}.", "{appointment_time} works for me."],
        },
        ask={
            "city": ["Which city would you like the dentist in?", "Where should I search?"],
            "appointment_date": ["Which day would you like to go?", "On what date?"],
            "appointment_time": ["What time suits you?", "At what time would you like the appointment?"],
        },
        offer=[
            "I found {count} dentists. {dentist_name} in {city} is one of them.",
            "{dentist_name} is a dentist in {city}. There are {count} in all.",
            "How about {dentist_name}? It's one of {count} dentists I found.",
        ],
        offer_more=["There's also {dentist_name} in {city}.", "Another one is {dentist_name}."],
        user_request={
            "address": ["Where is the office?", "What is their address?"],
            "phone_number": ["What's their phone number?", "How can I call them?"],
            "offers_cosmetic_services": ["Do they do cosmetic work?", "Do they offer cosmetic services?"],
        },
        inform={
            "address": ["The office is at {address}.", "They're located at {address}."],
            "phone_number": ["Their phone number is {phone_number}.", "Call {phone_number}."],
            "offers_cosmetic_services": {
                "True": ["Yes, they offer cosmetic services.", "They do cosmetic dentistry too."],
                "False": ["No, they don't offer cosmetic services.", "They don't do cosmetic work."],
            },
        },
        want_transaction=["Please book me an appointment.", "Can you make an appointment there?"],
        offer_intent=["Do you want me to book an appointment?", "Shall I make an appointment?"],
        confirm=[
            "Please confirm: an appointment with {dentist_name}, {appointment_date} at {appointment_time}.",
            "So that's {dentist_name}, {appointment_date} at {appointment_time}. Is that right?",
        ],
        success=["Your appointment is booked.", "You're all set, the appointment is confirmed."],
        failure=["Sorry, that slot is no longer available.", "I couldn't book the appointment, sorry."],
        from_result={"dentist_name": "dentist_name"},
        ask_for_transaction=["appointment_date", "appointment_time"],
        changeable=["appointment_time", "appointment_date"],
    ),
    "Weather_4": Flow(
        service="Weather_4",
        search="GetWeather",
        transaction=None,
        opening=["What's the weather going to be like?", "Can you check the forecast?", "Will it rain?"],
        tell={
            "city": ["In {city}.", "I'm asking about {city}.", "For {city}, please."],
            "date": ["For {date}.", "I mean {date}."],
        },
        ask={"city": ["Which city do you want the forecast for?", "For which city?"]},
        offer=[
            "It will be {temperature} degrees in {city} with a {precipitation} percent chance of rain.",
            "Forecast for {city}, {date}: {temperature} degrees and a {precipitation} percent chance of rain.",
        ],
        offer_more=[],
        user_request={
            "humidity": ["How humid will it be?", "What about humidity?"],
            "wind": ["Will it be windy?", "How strong is the wind?"],
        },
        inform={
            "humidity": ["Humidity will be around {humidity} percent.", "The humidity is {humidity} percent."],
            "wind": ["The wind will be {wind} miles per hour.", "Expect winds of {wind} miles per hour."],
        },
    ),
    "Trains_5": Flow(
        service="Trains_5",
        search="FindTrains",
        transaction="GetTrainTickets",
        opening=["I need to find a train.", "Can you look up trains for me?", "I'm planning a trip by train."],
        tell={
            "from_city": ["I'm leaving from {from_city}.", "Departing {from_city}."],
            "to_city": ["I want to go to {to_city}.", "Going to {to_city}."],
            "date_of_journey": ["I'd travel {date_of_journey}.", "Leaving {date_of_journey}."],
            "number_of_adults": ["For {number_of_adults} people.", "We are {number_of_adults}."],
            "class": ["{class} class, please."],
        },
        ask={
            "from_city": ["Where are you leaving from?", "What city do you depart from?"],
            "to_city": ["Where are you going?", "What's your destination?"],
            "date_of_journey": ["What day do you want to travel?", "When are you leaving?"],
            "number_of_adults": ["How many tickets do you need?", "How many people are traveling?"],
        },
        offer=[
            "I found {count} trains. One leaves at {journey_start_time} and costs {total}.",
            "There's a train at {journey_start_time} from {from_station} for {total}. I found {count} in total.",
        ],
        offer_more=["Another train leaves at {journey_start_time} for {total}.", "There's one at {journey_start_time}."],
        user_request={
            "from_station": ["Which station does it leave from?"],
            "to_station": ["Where does it arrive?", "Which station does it arrive at?"],
            "class": ["What class is that?"],
        },
        inform={
            "from_station": ["It departs from {from_station}.", "It leaves from {from_station}."],
            "to_station": ["It arrives at {to_station}.", "The train gets in at {to_station}."],
            "class": ["That's a {class} fare.", "It's {class} class."],
        },
        want_transaction=["Book me tickets on that one.", "I'll take it, please buy the tickets."],
        offer_intent=["Would you like to buy tickets?", "Shall I get you tickets for this train?"],
        confirm=[
            "Please confirm: {number_of_adults} {class} tickets from {from_city} to {to_city}, {date_of_journey} "
            "at {journey_start_time}.",
            "So, {number_of_adults} tickets on the {journey_start_time} train to {to_city}, {date_of_journey}, "
            "{class} class. Correct?",
        ],
        success=["Your tickets are booked.", "Done, the tickets are yours."],
        failure=["Sorry, I couldn't buy the tickets.", "The purchase failed, I'm sorry."],
        from_result={
            "from_city": "from_city", "to_city": "to_city", "date_of_journey": "date_of_journey",
            "journey_start_time": "journey_start_time", "class": "class",
        },
        ask_for_transaction=["number_of_adults"],
        changeable=["number_of_adults"],
    ),
}

USER_ALTS = ["Anything else?", "Can you find me something else?", "What other options are there?"]
USER_AFFIRM = ["Yes, that's right.", "Yes, please.", "Sounds good.", "Correct."]
USER_AFFIRM_INTENT = ["Yes, please do.", "Sure, go ahead.", "Yes, that would be great."]
USER_NEGATE_INTENT = ["No, not now.", "No thanks, not yet."]
USER_NEGATE_CHANGE = ["No, sorry. ", "Not quite. ", "No. "]
USER_THANKS_BYE = ["Thank you, that's all I need.", "Thanks, bye!", "Great, thanks. Goodbye."]
USER_THANKS = ["Thanks a lot.", "Thank you!", "That's great, thanks."]
USER_NO_THANKS = ["No, that's all. Thanks.", "Nope, thank you.", "No, I'm good. Thanks."]
SYSTEM_REQ_MORE = ["Is there anything else I can help with?", "Can I help with anything else?", "Anything else?"]
SYSTEM_GOODBYE = ["Have a great day!", "Goodbye, take care.", "You're welcome, enjoy your day."]

# The second service a user turns to after the first one, with the slots it reuses.
FOLLOW_UPS = {
    "Restaurants_7": [("Weather_4", {"city": "city", "date": "date"})],
    "Dentists_9": [("Weather_4", {"city": "city"}), ("Restaurants_7", {"city": "city"})],
    "Trains_5": [("Weather_4", {"city": "to_city", "date": "date_of_journey"}),
                 ("Restaurants_7", {"city": "to_city"})],
    "Weather_4": [("Restaurants_7", {"city": "city"})],
}


# --- Service back ends: results that satisfy the call --------------------------------------------------------------


def address(rng: random.Random) -> str:
    return f"{rng.randrange(10, 9900)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"


def phone(rng: random.Random) -> str:
    return f"{rng.choice(AREA_CODES)}-555-{rng.randrange(1000, 10000)}"


def distinct_names(rng: random.Random, make, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = make()
        if name not in names:
            names.append(name)
    return names


def find_restaurants(rng: random.Random, params: dict[str, str]) -> list[dict[str, str]]:
    count = rng.randint(1, 8)
    cuisine = params["cuisine"]
    names = distinct_names(
        rng, lambda: f"{rng.choice(NAME_FIRST)} {rng.choice([*NAME_SECOND, CUISINE_WORD[cuisine]])}", count
    )
    results = []
    for name in names:
        price = params.get("price_range") or rng.choice(PRICES)
        veg = params.get("has_vegetarian_options") or rng.choice(["True", "False"])
        results.append({
            "restaurant_name": name, "city": params["city"], "cuisine": cuisine, "price_range": price,
            "street_address": address(rng), "phone_number": phone(rng), "has_vegetarian_options": veg,
        })
    return results


def find_dentists(rng: random.Random, params: dict[str, str]) -> list[dict[str, str]]:
    count = rng.randint(1, 6)
    city = params["city"]
    names = distinct_names(rng, lambda: rng.choice([
        f"Dr. {rng.choice(SURNAMES)} Family Dental",
        f"{rng.choice(SURNAMES)} Dental Care",
        f"Bright Smile Dentistry of {city}",
        f"{city} Dental Group",
        f"Dr. {rng.choice(SURNAMES)}",
    ]), count)
    return [{
        "dentist_name": name, "city": city, "address": address(rng), "phone_number": phone(rng),
        "offers_cosmetic_services": params.get("offers_cosmetic_services") or rng.choice(["True", "False"]),
    } for name in names]


def get_weather(rng: random.Random, params: dict[str, str]) -> list[dict[str, str]]:
    return [{
        "city": params["city"], "date": params["date"], "temperature": str(rng.randrange(38, 96)),
        "precipitation": str(rng.randrange(0, 90)), "humidity": str(rng.randrange(15, 95)),
        "wind": str(rng.randrange(0, 30)),
    }]


def find_trains(rng: random.Random, params: dict[str, str]) -> list[dict[str, str]]:
    count = rng.randint(1, 6)
    times = sorted(rng.sample(range(6 * 4, 22 * 4), count))
    fare_class = params.get("class", "Value")
    adults = params.get("number_of_adults", "1")
    base = rng.randrange(25, 140)
    return [{
        "from_city": params["from_city"], "to_city": params["to_city"],
        "from_station": f"{params['from_city']} {rng.choice(STATION_KINDS)}",
        "to_station": f"{params['to_city']} {rng.choice(STATION_KINDS)}",
        "date_of_journey": params["date_of_journey"],
        "journey_start_time": f"{quarter // 4:02d}:{quarter % 4 * 15:02d}",
        "number_of_adults": adults, "class": fare_class,
        "total": str((base + rng.randrange(0, 30)) * int(adults) * {"Value": 1, "Flexible": 2, "Business": 3}[fare_class]),
    } for quarter in times]


SEARCHES = {
    "FindRestaurants": find_restaurants, "FindDentist": find_dentists, "GetWeather": get_weather,
    "FindTrains": find_trains,
}


# --- Dialogue assembly ---------------------------------------------------------------------------------------------


class DialogueWriter:
    """Builds one dialogue turn by turn, keeping each service's dialogue state the way SGD annotates it."""

    def __init__(self, dialogue_id: str, today: date):
        self.dialogue_id = dialogue_id
        self.today = today
        self.turns: list[dict] = []
        self.services: list[str] = []
        self.slot_values: dict[str, dict[str, list[str]]] = {}
        self.active_intent: dict[str, str] = {}

    def say(self, service: str, values: dict[str, str], template: str, act: str) -> tuple[str, list[dict]]:
        """Fill `template` from canonical `values`; every field becomes one `act` on that slot."""
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
        text = template.format(**{name: spoken(name, values[name], self.today) for name in fields})
        actions = []
        for name in fields:
            if name == "count":
                actions.append(action("INFORM_COUNT", "count", values[name], values[name]))
            else:
                actions.append(action(act, name, spoken(name, values[name], self.today), values[name]))
        return text, actions

    def user(self, service: str, text: str, actions: list[dict], *, intent: str | None = None,
             requested: list[str] | None = None) -> None:
        if service not in self.services:
            self.services.append(service)
        if intent is not None:
            self.active_intent[service] = intent
        values = self.slot_values.setdefault(service, {})
        for item in actions:
            if item["act"] == "INFORM":
                values[item["slot"]] = list(item["values"])
        self.turns.append({
            "frames": [{
                "actions": actions,
                "service": service,
                "slots": spans(service, text, actions),
                "state": {
                    "active_intent": self.active_intent.get(service, "NONE"),
                    "requested_slots": list(requested or []),
                    "slot_values": {name: list(v) for name, v in sorted(values.items())},
                },
            }],
            "speaker": "USER",
            "utterance": text,
        })

    def system(self, service: str, text: str, actions: list[dict], *, call: dict | None = None,
               results: list[dict] | None = None) -> None:
        frame: dict = {"actions": actions, "service": service}
        if call is not None:
            frame["service_call"] = call
            frame["service_results"] = results or []
        frame["slots"] = spans(service, text, actions)
        self.turns.append({"frames": [frame], "speaker": "SYSTEM", "utterance": text})

    def to_json(self) -> dict:
        return {"dialogue_id": self.dialogue_id, "services": self.services, "turns": self.turns}


def action(act: str, slot_name: str = "", value: str | None = None, canonical: str | None = None) -> dict:
    values = [] if value is None else [value]
    canonicals = [] if value is None else [canonical if canonical is not None else value]
    return {"act": act, "canonical_values": canonicals, "slot": slot_name, "values": values}


CATEGORICAL = {
    (service, item["name"])
    for service, schema in SCHEMAS.items()
    for item in schema["slots"]
    if item["is_categorical"]
}


def spans(service: str, text: str, actions: list[dict]) -> list[dict]:
    """Character spans of the non-categorical values a turn mentions, as SGD annotates them."""
    found = []
    for item in actions:
        name = item["slot"]
        if not item["values"] or name in ("", "intent", "count") or (service, name) in CATEGORICAL:
            continue
        start = text.find(item["values"][0])
        if start >= 0:
            found.append({"exclusive_end": start + len(item["values"][0]), "slot": name, "start": start})
    return found


def join(*parts: tuple[str, list[dict]]) -> tuple[str, list[dict]]:
    return " ".join(text for text, _ in parts), [a for _, actions in parts for a in actions]


def user_goal(rng: random.Random, flow: Flow, today: date, carried: dict[str, str]) -> dict[str, str]:
    """The values the user has in mind for the search (canonical forms)."""
    day = (today + timedelta(days=rng.choice([0, 1, 1, 2, 3, 5, 8]))).isoformat()
    if flow.service == "Restaurants_7":
        goal = {"city": rng.choice(CITIES), "cuisine": rng.choice(CUISINES)}
        if rng.random() < 0.3:
            goal["price_range"] = rng.choice(PRICES)
    elif flow.service == "Dentists_9":
        goal = {"city": rng.choice(CITIES)}
    elif flow.service == "Weather_4":
        goal = {"city": rng.choice(CITIES), "date": day}
    else:
        start, end = rng.sample(CITIES, 2)
        goal = {"from_city": start, "to_city": end, "date_of_journey": day}
        if rng.random() < 0.4:
            goal["number_of_adults"] = str(rng.randint(1, 4))
        if rng.random() < 0.2:
            goal["class"] = rng.choice(TRAIN_CLASSES)
    goal.update(carried)
    return goal


def transaction_values(rng: random.Random, flow: Flow, today: date) -> dict[str, str]:
    """Values of the transaction slots that only the user knows (asked for when missing)."""
    time = f"{rng.randrange(11, 21):02d}:{rng.choice(['00', '00', '30', '15', '45'])}"
    day = (today + timedelta(days=rng.choice([0, 1, 2, 3, 4, 7]))).isoformat()
    return {
        "time": time, "date": day, "party_size": str(rng.randint(1, 6)), "appointment_date": day,
        "appointment_time": f"{rng.randrange(8, 17):02d}:{rng.choice(['00', '30'])}",
        "number_of_adults": str(rng.randint(1, 4)),
    }


def run_service(w: DialogueWriter, rng: random.Random, flow: Flow, carried: dict[str, str],
                opener: tuple[str, list[dict]]) -> bool:
    """One service from the user's request to its end; returns True when the last system turn asked REQ_MORE."""
    service = flow.service
    schema = SCHEMAS[service]
    intents = {item["name"]: item for item in schema["intents"]}
    search = intents[flow.search]
    goal = user_goal(rng, flow, w.today, carried)

    # The opening: the intent, and some of the goal straight away (always the carried values).
    given = [name for name in goal if name in carried or rng.random() < 0.45]
    parts = [(opener[0] + rng.choice(flow.opening), [*opener[1], action("INFORM_INTENT", "intent", flow.search)])]
    parts += [w.say(service, goal, rng.choice(flow.tell[name]), "INFORM") for name in given if name in flow.tell]
    text, actions = join(*parts)
    w.user(service, text, actions, intent=flow.search)

    missing = [name for name in search["required_slots"] if name not in given]
    while missing:
        take = rng.choice([1, 1, 2])
        asked, missing = missing[:take], missing[take:]
        w.system(service, " ".join(rng.choice(flow.ask[name]) for name in asked),
                 [action("REQUEST", name) for name in asked])
        text, actions = join(*(w.say(service, goal, rng.choice(flow.tell[name]), "INFORM") for name in asked))
        w.user(service, text, actions)
        given += asked

    params = {name: goal[name] for name in goal if name in given or name in search["required_slots"]}
    for name, default in search["optional_slots"].items():
        if name not in params and default != "dontcare":
            params[name] = default if default != "today" else w.today.isoformat()
    call = {"method": flow.search, "parameters": dict(sorted(params.items()))}
    results = SEARCHES[flow.search](rng, params)
    shown = 0
    offer_vals = {**results[0], "count": str(len(results))}
    templates = flow.offer if len(results) > 1 or not flow.offer_more else flow.offer_more
    template = rng.choice(templates)
    offer_text, offer_actions = w.say(service, offer_vals, template, "OFFER")
    offers_intent = flow.transaction is not None and rng.random() < 0.4
    browse = rng.choice([0, 1, 2, 2, 3])
    if offers_intent and browse == 0:
        offer_text, offer_actions = join((offer_text, offer_actions), (rng.choice(flow.offer_intent),
                                                                       [action("OFFER_INTENT", "intent", flow.transaction)]))
    w.system(service, offer_text, offer_actions, call=call, results=results)

    for step in range(browse):
        last = step == browse - 1
        if flow.offer_more and shown + 1 < len(results) and rng.random() < 0.4:
            w.user(service, rng.choice(USER_ALTS), [action("REQUEST_ALTS")])
            shown += 1
            text, actions = w.say(service, results[shown], rng.choice(flow.offer_more), "OFFER")
        else:
            wanted = rng.sample(sorted(flow.user_request), rng.choice([1, 1, 2]) if len(flow.user_request) > 1 else 1)
            text, actions = join(*((rng.choice(flow.user_request[name]), [action("REQUEST", name)]) for name in wanted))
            w.user(service, text, actions, requested=wanted)
            pieces = []
            for name in wanted:
                templates = flow.inform[name]
                if isinstance(templates, dict):
                    value = results[shown][name]
                    pieces.append((rng.choice(templates[value]), [action("INFORM", name, value)]))
                else:
                    pieces.append(w.say(service, results[shown], rng.choice(templates), "INFORM"))
            text, actions = join(*pieces)
        if offers_intent and last:
            text, actions = join((text, actions), (rng.choice(flow.offer_intent),
                                                   [action("OFFER_INTENT", "intent", flow.transaction)]))
        w.system(service, text, actions)

    if flow.transaction is None:
        return False
    chosen = results[shown]
    if offers_intent:
        if rng.random() < 0.2:
            w.user(service, rng.choice(USER_NEGATE_INTENT), [action("NEGATE_INTENT")])
            w.system(service, rng.choice(SYSTEM_REQ_MORE), [action("REQ_MORE")])
            return True
        w.user(service, rng.choice(USER_AFFIRM_INTENT), [action("AFFIRM_INTENT")], intent=flow.transaction)
    elif rng.random() < 0.85:
        w.user(service, rng.choice(flow.want_transaction),
               [action("INFORM_INTENT", "intent", flow.transaction)], intent=flow.transaction)
    else:
        return False

    transaction = intents[flow.transaction]
    wanted = transaction_values(rng, flow, w.today)
    values = {slot_name: chosen[source] for slot_name, source in flow.from_result.items()}
    for name in transaction["required_slots"]:
        if name not in values and name in goal:
            values[name] = goal[name]
    missing = [name for name in flow.ask_for_transaction if name not in values]
    while missing:
        asked, missing = missing[:1], missing[1:]
        w.system(service, rng.choice(flow.ask[asked[0]]), [action("REQUEST", asked[0])])
        values[asked[0]] = wanted[asked[0]]
        extra = [name for name in transaction["optional_slots"] if name not in values and rng.random() < 0.3]
        for name in extra:
            values[name] = wanted.get(name, transaction["optional_slots"][name])
        text, actions = join(*(w.say(service, values, rng.choice(flow.tell[name]), "INFORM")
                               for name in [*asked, *extra] if name in flow.tell))
        w.user(service, text, actions)
    for name, default in transaction["optional_slots"].items():
        values.setdefault(name, w.today.isoformat() if default == "today" else default)
    text, actions = w.say(service, values, rng.choice(flow.confirm), "CONFIRM")
    w.system(service, text, actions)

    if flow.changeable and rng.random() < 0.25:
        name = rng.choice(flow.changeable)
        old = values[name]
        while values[name] == old:
            values[name] = transaction_values(rng, flow, w.today)[name]
        tell_text, tell_actions = w.say(service, values, rng.choice(flow.tell[name]), "INFORM")
        w.user(service, rng.choice(USER_NEGATE_CHANGE) + tell_text, [action("NEGATE"), *tell_actions])
        confirm_text, confirm_actions = w.say(service, values, f"OK, {{{name}}} then. Is that right?", "CONFIRM")
        w.system(service, confirm_text, confirm_actions)

    ask_after = rng.random() < 0.3 and flow.user_request
    requested = rng.choice(sorted(name for name in flow.user_request if name in transaction["result_slots"]
                                  or name in chosen)) if ask_after else None
    if requested:
        w.user(service, rng.choice(USER_AFFIRM) + " " + rng.choice(flow.user_request[requested]),
               [action("AFFIRM"), action("REQUEST", requested)], requested=[requested])
    else:
        w.user(service, rng.choice(USER_AFFIRM), [action("AFFIRM")])
    call = {"method": flow.transaction, "parameters": dict(sorted(values.items()))}
    if rng.random() < 0.85:
        record = {name: values.get(name, chosen.get(name, "")) for name in transaction["result_slots"]}
        if "total" in record:
            # The fare scales with the tickets the user finally asked for.
            each = int(chosen["total"]) // int(chosen["number_of_adults"])
            record["total"] = str(each * int(values["number_of_adults"]))
        parts = [(rng.choice(flow.success), [action("NOTIFY_SUCCESS")])]
        if requested:
            templates = flow.inform[requested]
            source = {**chosen, **record}
            if isinstance(templates, dict):
                parts.append((rng.choice(templates[source[requested]]),
                              [action("INFORM", requested, source[requested])]))
            else:
                parts.append(w.say(service, source, rng.choice(templates), "INFORM"))
        text, actions = join(*parts)
        w.system(service, text, actions, call=call, results=[record])
        return False
    text, actions = join((rng.choice(flow.failure), [action("NOTIFY_FAILURE")]),
                         (rng.choice(SYSTEM_REQ_MORE), [action("REQ_MORE")]))
    w.system(service, text, actions, call=call, results=[])
    return True


def make_dialogue(rng: random.Random, dialogue_id: str) -> dict:
    today = START_DAY + timedelta(days=rng.randrange(0, 60))
    w = DialogueWriter(dialogue_id, today)
    first = rng.choice(sorted(FLOWS))
    plan = [(first, {})]
    if rng.random() < 0.5:
        second, reuse = rng.choice(FOLLOW_UPS[first])
        plan.append((second, reuse))
    asked_more = False
    for index, (service, reuse) in enumerate(plan):
        carried = {}
        if index > 0:
            # Reuse values from the first service's calls, e.g. the restaurant's city for the weather.
            calls = [frame["service_call"]["parameters"] for turn in w.turns for frame in turn["frames"]
                     if "service_call" in frame]
            known = {name: value for params in calls for name, value in params.items()}
            carried = {target: known[source] for target, source in reuse.items() if source in known}
        opener: tuple[str, list[dict]] = ("", [])
        if index > 0 and not asked_more:
            opener = rng.choice([("Thanks. ", [action("THANK_YOU")]), ("Great. ", []), ("", [])])
        asked_more = run_service(w, rng, FLOWS[service], carried, opener)

    last_service = plan[-1][0]
    if asked_more:
        w.user(last_service, rng.choice(USER_NO_THANKS), [action("NEGATE"), action("THANK_YOU")])
    elif rng.random() < 0.5:
        w.user(last_service, rng.choice(USER_THANKS_BYE), [action("THANK_YOU"), action("GOODBYE")])
    else:
        w.user(last_service, rng.choice(USER_THANKS), [action("THANK_YOU")])
        w.system(last_service, rng.choice(SYSTEM_REQ_MORE), [action("REQ_MORE")])
        w.user(last_service, rng.choice(USER_NO_THANKS), [action("NEGATE"), action("THANK_YOU")])
    w.system(last_service, rng.choice(SYSTEM_GOODBYE), [action("GOODBYE")])
    return w.to_json()


def write_split(out: Path, split: str, count: int, per_file: int, seed: int) -> None:
    folder = out / split
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("dialogues_*.json"):
        old.unlink()
    (folder / "schema.json").write_text(json.dumps([SCHEMAS[name] for name in sorted(SCHEMAS)], indent=2) + "\n")
    rng = random.Random(f"{seed}:{split}")
    for file_index in range((count + per_file - 1) // per_file):
        dialogues = [
            make_dialogue(rng, f"{file_index + 1}_{number:05d}")
            for number in range(file_index * per_file, min(count, (file_index + 1) * per_file))
        ]
        path = folder / f"dialogues_{file_index + 1:03d}.json"
        path.write_text(json.dumps(dialogues, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=PACKAGED, help="corpus root (default: src/teachkit/data/sgd_example)")
    parser.add_argument("--train", type=int, default=48, help="dialogues in train")
    parser.add_argument("--dev", type=int, default=12, help="dialogues in dev")
    parser.add_argument("--test", type=int, default=12, help="dialogues in test")
    parser.add_argument("--per-file", type=int, default=24, help="dialogues per dialogues_NNN.json file")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for split in ("train", "dev", "test"):
        count = getattr(args, split)
        if count > 0:
            write_split(args.out, split, count, args.per_file, args.seed)


if __name__ == "__main__":
    main()
