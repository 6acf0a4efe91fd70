"""The original version's store API, kept for its existing clients. It calls the same
selectors and services as /api/v1; only the shapes differ."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanPlaceOrders
from catalog.exceptions import ProductNotFound
from catalog.selectors import product_get, product_pages
from core.apis import ListApi
from core.parsers import FormParser, JSONParser
from core.rendering import Renderer
from core.schema import raises
from ledger.exceptions import InsufficientStock
from ordering.apis import lines_of
from ordering.exceptions import (
    OrderNotFound,
    OrderTooLarge,
    ProductOutOfStock,
    UnknownProducts,
)
from ordering.selectors import order_get, order_list
from ordering.services import MAX_LINES, MAX_UNITS, order_place


class StoreProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    # What can be sold now: available units (on hand minus reserved) at all locations.
    quantity_in_stock = serializers.IntegerField(source="available")


class StoreOrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    user = serializers.IntegerField(source="customer_id")
    datetime = serializers.DateTimeField(source="created_at")
    products = serializers.SerializerMethodField()

    def get_products(self, order) -> list[int]:
        """One id per unit, as the original API took them."""
        return [line.product_id for line in lines_of(order) for _ in range(line.quantity)]


render_store_product = Renderer(StoreProductOutput)
render_store_order = Renderer(StoreOrderOutput)


class StoreOrderInput(serializers.Serializer):
    products = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=MAX_UNITS
    )

    def validate_products(self, value):
        if len(set(value)) > MAX_LINES:
            raise serializers.ValidationError(f"At most {MAX_LINES} different products.")
        return value


class StoreProductListApi(ListApi):
    filter_backends = ()  # the original API has no filters

    @extend_schema(responses=StoreProductOutput(many=True))
    def get(self, request):
        return self.paginated(product_pages(active_only=True), render_store_product)


class StoreProductDetailApi(APIView):
    @extend_schema(responses={200: StoreProductOutput, **raises(ProductNotFound)})
    def get(self, request, product_id: int):
        # The original paths are regular expressions, so the id arrives as a string.
        product = product_get(product_id=int(product_id), active_only=True)
        return Response(render_store_product(product))


class StoreOrderListCreateApi(ListApi):
    # The same rule as /api/v1/orders/: auditors read but never place orders.
    permission_classes = (CanPlaceOrders,)
    filter_backends = ()  # the original API has no filters
    parser_classes = (JSONParser, FormParser)
    max_form_fields = MAX_UNITS + 1  # a form order sends one `products` field per unit

    @extend_schema(responses=StoreOrderOutput(many=True))
    def get(self, request):
        return self.paginated(order_list(customer_id=request.user.id), render_store_order)

    @extend_schema(
        request=StoreOrderInput,
        responses={
            201: StoreOrderOutput,
            **raises(UnknownProducts, OrderTooLarge, ProductOutOfStock),
        },
        examples=[
            OpenApiExample(
                "Two units of product 1, one of product 3",
                value={"products": [1, 1, 3]},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = StoreOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = order_place(
                customer_id=request.user.id, lines=[(p, 1) for p in data.validated_data["products"]]
            )
        except InsufficientStock as short:
            raise ProductOutOfStock(lines=short.lines) from short
        return Response(render_store_order(order), status=status.HTTP_201_CREATED)


class StoreOrderDetailApi(APIView):
    permission_classes = (CanPlaceOrders,)

    @extend_schema(responses={200: StoreOrderOutput, **raises(OrderNotFound)})
    def get(self, request, order_id: int):
        return Response(
            render_store_order(order_get(order_id=int(order_id), customer_id=request.user.id))
        )
