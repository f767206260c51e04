"""Schemathesis hooks for auralis-server: the cross-parameter rules OpenAPI 3.1 cannot
state, which the document states in words (its `info.description`).

Generated cases that break one of them are dropped, not rewritten: a rewritten negative
case could turn valid, and a dropped one is just not sent.
"""

import schemathesis

# Pairs a request may carry one of, not both.
EXCLUSIVE = [("offset", "cursor"), ("sort", "order_by")]
# Parameters that apply to one chunk format only.
FORMAT_ONLY = {"level": "flac", "bitrate": "opus"}


def breaks_a_rule(query):
    if not isinstance(query, dict):
        return False
    # `cursor` is a token the server issued (`meta.next_cursor`): no schema says which
    # strings those are, so generated ones are never valid. Cursor paging is tested by
    # tests/library_api.rs with real tokens.
    if "cursor" in query:
        return True
    if any(a in query and b in query for a, b in EXCLUSIVE):
        return True
    return any(p in query and query.get("format") != fmt for p, fmt in FORMAT_ONLY.items())




def duplicate_batch_ids(body):
    """Batch item ids are unique in a batch, `1` and `"1"` being the same id (results
    echo ids as strings); JSON Schema has no way to say it."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return False
    ids = [str(i.get("id")) for i in body["items"] if isinstance(i, dict) and "id" in i]
    return len(ids) != len(set(ids))


@schemathesis.hook
def filter_case(context, case):
    return not (breaks_a_rule(case.query) or duplicate_batch_ids(case.body))
