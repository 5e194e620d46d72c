from fastapi import FastAPI

from app import catalog

app = FastAPI(title="shop")
app.include_router(catalog.router)
