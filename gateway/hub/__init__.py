"""The hub: one internal request model between the front doors and the providers.

Every client API (a *front door*) is parsed into a :class:`~.request.Request`; tenancy,
residency, routing, fallback and metering act on that request, once, whatever the door; a
provider turns it into its wire format and answers a :class:`~.response.Result` (or, for a
stream, a sequence of :mod:`.events`), which the door renders back in the caller's API.

How a front door plugs in (``gateway/doors/<name>.py``, one module per client API)::

    class MyDoor:
        name = "openai_chat"                 # the door's key in hub.fields' table
        api = API_CHAT                       # the wire API it speaks (see hub.request)
        op = "chat"                          # what it asks of a route: "chat" | "embeddings"

        def parse(self, body: dict, params: PathParams) -> Request: ...
            # validate the client's JSON (400 GatewayError naming `param`) and build the
            # canonical Request (body in the hub's shape, native=the client's body)
        def render(self, request: Request, result: Result) -> bytes: ...
            # the non-streamed answer, in the door's API
        def stream(self, request: Request) -> StreamRender: ...
            # per-stream state: .event(item) -> bytes, .done() -> bytes, .error(err) -> bytes
        def render_error(self, err: GatewayError) -> bytes: ...
            # an error body in the door's shape (OpenAI's {"error": {...}} for OpenAI doors)

and registers its routes (method, path pattern) in ``gateway/server/routes.py``.

How a provider declares what it *speaks*: a provider class has ``speaks``, the frozenset of
client APIs (``hub.request.API_*``) it accepts natively. When the door's API is in it, the
request is passed through (only the model and auth change) with
``provider.passthrough(target, request, deadline=...) -> Result`` and
``provider.passthrough_stream(...) -> AsyncIterator[NativeEvent]``; otherwise the canonical
body goes to ``provider.chat`` / ``chat_stream`` / ``embeddings`` and is translated there.
Which target kind speaks which API is :data:`.fields.SPEAKS`, and every door field is
decided per target kind in :mod:`.fields` (translate | passthrough | refuse, with a
reason); the docs table is generated from it.
"""
