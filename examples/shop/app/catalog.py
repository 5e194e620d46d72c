"""Product catalogue: reads are worth caching, writes are not."""
import httpx
from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Product, get_session

router = APIRouter()


@router.get("/products/{product_id}")
async def get_product(product_id: int, session: AsyncSession = Depends(get_session)):
    result = await session.execute(select(Product).where(Product.id == product_id))
    return result.scalar_one()


@router.post("/products")
async def create_product(name: str, session: AsyncSession = Depends(get_session)):
    product = Product(name=name)
    session.add(product)
    await session.commit()
    return product


async def exchange_rate(client: httpx.AsyncClient, currency: str) -> float:
    response = await client.get(f"https://rates.example.com/v1/{currency}")
    response.raise_for_status()
    return response.json()["rate"]


async def get_sales_summary():
    return {"orders": 0, "revenue": 0}


def slugify(name: str) -> str:
    return name.lower().replace(" ", "-")
