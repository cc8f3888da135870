"""Schemathesis hooks of the emulator's fuzz run (tests/emulator_fuzz.rs).

Each hook records one known, documented way in which the emulator, following Snowflake
(`../shared/reference/snowflake.md`), differs from the letter of Snowflake's sqlapi.yaml,
or a limit of the fuzzer's own HTTP stack. Nothing else is excluded: every other
5xx, schema violation, refused valid request or accepted invalid one fails the run.
"""

import schemathesis


def _any_case(word):
    """`word` as a regex matching it in any letter case (ECMA regexes have no (?i))."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    schemas = raw_schema["components"]["schemas"]
    # 1. statementStatusUrl: sqlapi.yaml says `format: uri` (absolute), but Snowflake
    #    answers a path relative to the account URL (reference 3.2:
    #    "statementStatusUrl":"/api/v2/statements/<h>?requestId=<uuid>"), and so does the
    #    emulator. It must still be a URI reference.
    for name in ("QueryStatus", "QueryFailureStatus", "CancelStatus", "ResultSet"):
        schemas[name]["properties"]["statementStatusUrl"]["format"] = "uri-reference"

    parameters = raw_schema["components"]["parameters"]
    # 2. User-Agent: sqlapi.yaml types it as any string, but asks for an RFC 7231 value
    #    (`app/version`, reference 3.1); the emulator refuses one without a visible
    #    character.
    parameters["userAgent"]["schema"]["pattern"] = "[!-~]"
    # 3. Accept: optional in sqlapi.yaml, required by reference 3.1 ("Accept: yes,
    #    application/json"); the emulator refuses a request whose Accept allows neither
    #    application/json, application/* nor */*.
    json_range = "(" + _any_case("application") + "/(" + _any_case("json") + r"|\*)|\*/\*)"
    parameters["accept"]["required"] = True
    parameters["accept"]["schema"]["pattern"] = (
        r"^(.*,)?[ \t]*" + json_range + r"[ \t]*(;[^,]*)?(,.*)?$"
    )

    # 4. multi_statement_count: an integer in sqlapi.yaml ("Negative numbers are not
    #    allowed" in its description, without a `minimum`), a string in Snowflake's
    #    documentation (reference 3.1: "0" any number, "N" exactly N). The emulator takes
    #    both, and refuses negative counts.
    body = raw_schema["paths"]["/api/v2/statements"]["post"]["requestBody"]
    statement_parameters = body["content"]["application/json"]["schema"]["properties"][
        "parameters"
    ]
    count = statement_parameters["properties"]["multi_statement_count"]
    del count["type"]
    count["anyOf"] = [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": "^[0-9]+$"},
    ]


@schemathesis.hook
def filter_failure(context, failure, case, response):
    # 5. The fuzzer cannot send a request without User-Agent: when a case leaves it out,
    #    urllib3 adds its own (`python-urllib3/<version>`) on the wire, so the emulator
    #    rightly takes the request. A "missing User-Agent accepted" verdict about such a
    #    request is dropped; tests/emulator_openapi.rs and tests/emulator_http.rs check
    #    the refusal with a client that really leaves the header out.
    lost_user_agent = "User-Agent" not in response.request.headers
    return not (lost_user_agent and failure.code in ("ST201", "ST203"))
