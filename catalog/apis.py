from decimal import Decimal

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ReadOrWarehouseWrites
from accounts.roles import Role, has_role
from catalog.exceptions import ProductExists, ProductNotFound
from catalog.filters import ProductFilter
from catalog.models import Product
from catalog.selectors import product_get, product_pages
from catalog.services import product_create, product_update
from core.apis import ListApi
from core.rendering import Renderer
from core.schema import raises


class ProductLocationOutput(serializers.Serializer):
    location = serializers.CharField(help_text="The location's code.")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    incoming = serializers.IntegerField()


class ProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    reorder_level = serializers.IntegerField()
    is_active = serializers.BooleanField()
    on_hand = serializers.IntegerField(help_text="Units on the shelves, at all locations.")
    reserved = serializers.IntegerField(help_text="Units on hand held for someone.")
    available = serializers.IntegerField(help_text="on_hand - reserved: what can be sold.")
    incoming = serializers.IntegerField(help_text="Units on their way to a location.")
    low_stock = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    locations = ProductLocationOutput(
        source="stock_locations",
        many=True,
        help_text="The figures at each location the product is kept at.",
    )


@extend_schema_field(
    {
        "type": "string",
        "format": "decimal",
        # What the field takes: 0 or more, up to 10 digits before the point and 2 after
        # (drf-spectacular's own pattern also matches "", "." and negative prices).
        "pattern": r"^(\d{1,10}(\.\d{0,2})?|\.\d{1,2})$",
        "example": "4.10",
    }
)
class PriceField(serializers.DecimalField):
    def __init__(self, **kwargs):
        super().__init__(max_digits=12, decimal_places=2, min_value=Decimal("0"), **kwargs)


class ProductInput(serializers.ModelSerializer):
    """Validates catalogue fields. A sku or name already taken is left to the service, which
    answers it with 409 ``product_exists`` whether it was taken before or during this
    request (a uniqueness check here would answer the same conflict with a 400)."""

    class Meta:
        model = Product
        fields = ("sku", "name", "description", "price", "reorder_level", "is_active")
        extra_kwargs = {"sku": {"validators": []}, "name": {"validators": []}}

    price = PriceField()


render_product = Renderer(ProductOutput)


def _catalogue_for_customers(request) -> bool:
    """Customers browse the active catalogue; staff and auditors also see archived items."""
    return not has_role(request.user, Role.WAREHOUSE, Role.AUDITOR)


class ProductListCreateApi(ListApi):
    permission_classes = (ReadOrWarehouseWrites,)
    filterset_class = ProductFilter
    queryset = Product.objects.none()

    @extend_schema(responses=ProductOutput(many=True))
    def get(self, request):
        products = product_pages(
            filters=request.query_params, active_only=_catalogue_for_customers(request)
        )
        return self.paginated(products, render_product)

    @extend_schema(
        request=ProductInput,
        responses={201: ProductOutput, **raises(ProductExists)},
        examples=[
            OpenApiExample(
                "A new product",
                value={
                    "sku": "CLP-32",
                    "name": "Paper clips 32 mm (1000)",
                    "description": "Galvanised, in a cardboard box.",
                    "price": "4.10",
                    "reorder_level": 20,
                    "is_active": True,
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = ProductInput(data=request.data)
        data.is_valid(raise_exception=True)
        product = product_create(**data.validated_data)
        product = product_get(product_id=product.id)
        return Response(render_product(product), status=status.HTTP_201_CREATED)


class ProductDetailApi(APIView):
    permission_classes = (ReadOrWarehouseWrites,)

    @extend_schema(responses={200: ProductOutput, **raises(ProductNotFound)})
    def get(self, request, product_id: int):
        product = product_get(product_id=product_id, active_only=_catalogue_for_customers(request))
        return Response(render_product(product))

    @extend_schema(
        request=ProductInput(partial=True),
        responses={200: ProductOutput, **raises(ProductNotFound, ProductExists)},
        examples=[
            OpenApiExample("A new price", value={"price": "12.90"}, request_only=True),
        ],
    )
    def patch(self, request, product_id: int):
        product = product_get(product_id=product_id)
        data = ProductInput(product, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        product_update(product=product, **data.validated_data)
        return Response(render_product(product_get(product_id=product_id)))
