from rest_framework.negotiation import DefaultContentNegotiation


class JsonFirstNegotiation(DefaultContentNegotiation):
    """The API answers JSON only: a view with a single renderer skips parsing the Accept
    header (a measurable share of a stock write's CPU); views offering several formats,
    such as the OpenAPI schema, negotiate as usual."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if len(renderers) == 1:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
