//! The catalog: products and their reviews.

use std::sync::Arc;

use crate::domain::{
    NewProduct, NewReview, Page, Paged, Product, ProductId, Rating, Review, UserId,
};
use crate::error::{Error, Result};
use crate::store::{ProductStore, ReviewStore, StoreError, UserStore};

#[derive(Clone)]
pub struct Catalog {
    pub products: Arc<dyn ProductStore>,
    pub reviews: Arc<dyn ReviewStore>,
    users: Arc<dyn UserStore>,
}

fn sku_taken(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate(_) => {
            Error::conflict("SKU_TAKEN", "another product already has this SKU")
        }
        other => other.into(),
    }
}

impl Catalog {
    pub fn new(
        products: Arc<dyn ProductStore>,
        reviews: Arc<dyn ReviewStore>,
        users: Arc<dyn UserStore>,
    ) -> Self {
        Self {
            products,
            reviews,
            users,
        }
    }

    pub async fn list_products(&self, page: Page) -> Result<Paged<Product>> {
        Ok(self.products.list(page).await?)
    }

    pub async fn get_product(&self, id: ProductId) -> Result<Product> {
        self.products
            .get(id)
            .await?
            .ok_or(Error::NotFound("product"))
    }

    pub async fn create_product(&self, product: NewProduct) -> Result<Product> {
        self.products.insert(product).await.map_err(sku_taken)
    }

    pub async fn update_product(&self, id: ProductId, product: NewProduct) -> Result<Product> {
        self.products
            .update(id, product)
            .await
            .map_err(sku_taken)?
            .ok_or(Error::NotFound("product"))
    }

    pub async fn delete_product(&self, id: ProductId) -> Result<()> {
        if self.products.delete(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("product"))
        }
    }

    pub async fn list_reviews(&self, product: ProductId, page: Page) -> Result<Paged<Review>> {
        self.get_product(product).await?;
        Ok(self.reviews.list_for_product(product, page).await?)
    }

    /// Stores the review, then adds its rating to the product's summary. If the summary update
    /// fails the review is withdrawn again, so the average never disagrees with the reviews.
    #[tracing::instrument(skip(self, comment))]
    pub async fn add_review(
        &self,
        user: UserId,
        product: ProductId,
        rating: Rating,
        comment: String,
    ) -> Result<Review> {
        self.get_product(product).await?;
        let author = self
            .users
            .find_by_id(user)
            .await?
            .ok_or(Error::Unauthorized)?;
        let review = self
            .reviews
            .insert(NewReview {
                product_id: product,
                user_id: user,
                author_name: author.name,
                rating,
                comment,
            })
            .await
            .map_err(|e| match e {
                StoreError::Duplicate(_) => {
                    Error::conflict("ALREADY_REVIEWED", "you have already reviewed this product")
                }
                other => other.into(),
            })?;
        if let Err(e) = self.products.adjust_rating(product, rating, 1).await {
            if let Err(undo) = self.reviews.delete(review.id).await {
                tracing::error!(error = %undo, review = %review.id, "could not withdraw a review whose rating was not counted");
            }
            return Err(e.into());
        }
        Ok(review)
    }
}
