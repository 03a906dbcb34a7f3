"""The helper-call port: a request stream to whatever implements helpers, a response back.

``call imm`` and ``callx reg`` send the helper id with r1-r5; the answerer replies with r0,
or ``unknown`` (the core traps ``UNKNOWN_HELPER``), or ``fault`` (the helper touched memory
outside every region, as a key pointer past the stack: the core traps ``OUT_OF_BOUNDS`` at the
call, as the golden model's helpers do), or ``stop`` (the program ends at once, as
by exit, with the given r0: the conformance suite's "unwind" helper).  r1-r5 keep their values
across a helper call, as in the golden model.
"""

from amaranth.lib import data, stream

__all__ = ["HelperRequest", "HelperResponse", "helper_request_signature",
           "helper_response_signature"]

HelperRequest = data.StructLayout({
    "id": 32,
    "args": data.ArrayLayout(64, 5),   # r1..r5
})

HelperResponse = data.StructLayout({
    "r0": 64,
    "stop": 1,
    "unknown": 1,
    "fault": 1,
})


def helper_request_signature() -> stream.Signature:
    return stream.Signature(HelperRequest)


def helper_response_signature() -> stream.Signature:
    return stream.Signature(HelperResponse)
