//! What a load run asks of the server. The `mix` scenario is modelled on Online Boutique's load
//! generator (its locustfile weighs browsing products 10, viewing the cart 3, adding to it 2,
//! checking out 1): most requests browse, few write. Weights out of 100, per request:
//!
//! | task | weight | request |
//! |---|---|---|
//! | list products (filters, sorts, pages 1-5) | 35 | `GET /products?...` |
//! | view a product | 25 | `GET /products/{id}` |
//! | read its reviews | 15 | `GET /products/{id}/reviews` |
//! | place an order (1 item) | 7 | `POST /orders` |
//! | refresh a session | 5 | `POST /auth/refresh` (step 1 on; else sign in) |
//! | pay a placed order | 5 | `POST /orders/{id}/pay` (else place one) |
//! | add a review | 5 | `POST /products/{id}/reviews` |
//! | sign in | 3 | `POST /auth/login` |
//!
//! Sessions are checked out of a pool for the length of one request, so two requests never
//! rotate the same refresh token at once (step 1 would read that as token theft and revoke the
//! family). The single-endpoint scenarios (`reference`, `detail`, `listing`) let one run
//! compare the no-I/O ceiling, a cached product read and listings.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use crate::scheduler::Outcome;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The realistic task mix (see `loadgen --help`).
    Mix,
    /// Only the no-I/O reference endpoint, `GET /internal/noop`.
    Reference,
    /// Only product detail, over 100 hot products (cached after their first read).
    Detail,
    /// Only listings, with filters, sorts and pages; a row per query shape.
    Listing,
    /// Only the order path: half the requests place an order (one unit), half pay one placed
    /// before (or place one when none waits): orders per second through the order writes.
    Orders,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Mix => "mix",
            Scenario::Reference => "reference",
            Scenario::Detail => "detail",
            Scenario::Listing => "listing",
            Scenario::Orders => "orders",
        }
    }
}

pub const REFERENCE_PATH: &str = "/internal/noop";
pub const REFERENCE_LABEL: &str = "GET /internal/noop (reference)";

/// The load users' password: they exist only for load runs.
const PASSWORD: &str = "load-test-password-1";
const SORTS: [&str; 6] = ["newest", "oldest", "price", "-price", "name", "-rating"];
const DETAIL_HOT_SET: usize = 100;

struct Session {
    email: String,
    access: String,
    refresh: Option<String>,
    /// Products this user reviewed in this run: one review per user per product.
    reviewed: HashSet<String>,
}

/// Everything a task needs, shared by all requests of a run.
pub struct Target {
    client: reqwest::Client,
    base: String,
    products: Vec<String>,
    categories: Vec<String>,
    sessions: Mutex<VecDeque<Session>>,
    /// Orders placed and not paid yet, with their owner's access token.
    pending: Mutex<VecDeque<(String, String)>>,
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(1024)
        .build()
        .context("building the HTTP client")
}

fn status(result: reqwest::Result<reqwest::Response>) -> Option<u16> {
    result.ok().map(|r| r.status().as_u16())
}

impl Target {
    /// Reads product ids and categories from the catalog and, for `mix`, registers and signs
    /// in `users` load users (outside the measured time).
    pub async fn prepare(base: &str, scenario: Scenario, users: usize) -> anyhow::Result<Self> {
        let client = client()?;
        let base = base.trim_end_matches('/').to_owned();
        let mut products = Vec::new();
        let mut categories = HashSet::new();
        if scenario != Scenario::Reference {
            for page in 1..=5 {
                let url = format!("{base}/api/v1/products?limit=100&page={page}");
                let body: Value = client
                    .get(&url)
                    .send()
                    .await
                    .with_context(|| format!("GET {url}"))?
                    .error_for_status()?
                    .json()
                    .await?;
                let items = body["items"].as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    break;
                }
                for item in items {
                    if item["stock"].as_i64().unwrap_or(0) > 0
                        && let Some(id) = item["id"].as_str()
                    {
                        products.push(id.to_owned());
                    }
                    if let Some(category) = item["category"].as_str() {
                        categories.insert(category.to_owned());
                    }
                }
            }
            if products.is_empty() {
                bail!("{base} lists no product in stock: seed the catalog first");
            }
        }
        let target = Self {
            client,
            base,
            products,
            categories: categories.into_iter().collect(),
            sessions: Mutex::new(VecDeque::new()),
            pending: Mutex::new(VecDeque::new()),
        };
        if matches!(scenario, Scenario::Mix | Scenario::Orders) {
            let run = rand::rng().random::<u32>();
            for user in 0..users {
                let email = format!("load-{run:08x}-{user}@stepwise.test");
                let url = format!("{}/api/v1/auth/register", target.base);
                target
                    .client
                    .post(&url)
                    .json(&json!({ "email": email, "password": PASSWORD, "name": "Load user" }))
                    .send()
                    .await
                    .with_context(|| format!("POST {url}"))?
                    .error_for_status()
                    .context("registering a load user")?;
                let session = target
                    .login(&email)
                    .await
                    .context("signing in a load user")?;
                target.sessions.lock().expect("poisoned").push_back(session);
            }
        }
        Ok(target)
    }

    async fn login(&self, email: &str) -> anyhow::Result<Session> {
        let body: Value = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let access = body["access_token"]
            .as_str()
            .or_else(|| body["token"].as_str())
            .context("the login answer has no token")?
            .to_owned();
        Ok(Session {
            email: email.to_owned(),
            access,
            refresh: body["refresh_token"].as_str().map(str::to_owned),
            reviewed: HashSet::new(),
        })
    }

    fn product(&self, hot: bool) -> &str {
        let mut rng = rand::rng();
        let pool = if hot {
            &self.products[..self.products.len().min(DETAIL_HOT_SET)]
        } else {
            &self.products[..]
        };
        pool.choose(&mut rng).expect("prepare checked the catalog")
    }

    /// A listing request and its shape (`sort=price&category`): the query an index serves.
    fn listing_url(&self) -> (String, String) {
        let mut rng = rand::rng();
        let sort = SORTS.choose(&mut rng).expect("not empty");
        let page = rng.random_range(1..=5);
        let mut url = format!(
            "{}/api/v1/products?limit=20&page={page}&sort={sort}",
            self.base
        );
        let mut shape = format!("sort={sort}");
        if rng.random_bool(0.5)
            && let Some(category) = self.categories.choose(&mut rng)
        {
            url.push_str("&category=");
            url.push_str(category);
            shape.push_str("&category");
        }
        (url, shape)
    }

    fn checkout(&self) -> Option<Session> {
        self.sessions.lock().expect("poisoned").pop_front()
    }

    fn check_in(&self, session: Session) {
        self.sessions.lock().expect("poisoned").push_back(session);
    }

    /// One request of `scenario`; returns its endpoint label and status.
    pub async fn request(self: Arc<Self>, scenario: Scenario) -> Outcome {
        match scenario {
            Scenario::Reference => self.reference().await,
            Scenario::Detail => self.view_product(true).await,
            Scenario::Listing => self.list_products(true).await,
            Scenario::Orders => {
                if rand::rng().random_bool(0.5) {
                    self.place_order().await
                } else {
                    self.pay().await
                }
            }
            Scenario::Mix => {
                let roll = rand::rng().random_range(0..100);
                match roll {
                    0..35 => self.list_products(false).await,
                    35..60 => self.view_product(false).await,
                    60..75 => self.read_reviews().await,
                    75..82 => self.place_order().await,
                    82..87 => self.refresh().await,
                    87..92 => self.pay().await,
                    92..97 => self.add_review().await,
                    _ => self.sign_in().await,
                }
            }
        }
    }

    pub async fn reference(&self) -> Outcome {
        let url = format!("{}{REFERENCE_PATH}", self.base);
        (
            REFERENCE_LABEL.to_owned(),
            status(self.client.get(url).send().await),
        )
    }

    /// A listing page; `by_shape` labels it by its query shape (the listing scenario, where
    /// the rows then compare sorts and filters), else as one endpoint (the mix).
    async fn list_products(&self, by_shape: bool) -> Outcome {
        let (url, shape) = self.listing_url();
        let label = if by_shape {
            format!("GET /products?{shape}")
        } else {
            "GET /products".to_owned()
        };
        (label, status(self.client.get(url).send().await))
    }

    async fn view_product(&self, hot: bool) -> Outcome {
        let url = format!("{}/api/v1/products/{}", self.base, self.product(hot));
        (
            "GET /products/{id}".to_owned(),
            status(self.client.get(url).send().await),
        )
    }

    async fn read_reviews(&self) -> Outcome {
        let url = format!(
            "{}/api/v1/products/{}/reviews?limit=10",
            self.base,
            self.product(false)
        );
        (
            "GET /products/{id}/reviews".to_owned(),
            status(self.client.get(url).send().await),
        )
    }

    async fn sign_in(&self) -> Outcome {
        let label = "POST /auth/login".to_owned();
        let Some(session) = self.checkout() else {
            return self.list_products(false).await;
        };
        let answer = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({ "email": session.email, "password": PASSWORD }))
            .send()
            .await;
        let code = status(answer);
        self.check_in(session);
        (label, code)
    }

    async fn refresh(&self) -> Outcome {
        let Some(mut session) = self.checkout() else {
            return self.list_products(false).await;
        };
        let Some(refresh) = session.refresh.clone() else {
            self.check_in(session);
            return self.sign_in().await;
        };
        let answer = self
            .client
            .post(format!("{}/api/v1/auth/refresh", self.base))
            .json(&json!({ "refresh_token": refresh }))
            .send()
            .await;
        let code = match answer {
            Ok(response) => {
                let code = response.status().as_u16();
                if let Ok(body) = response.json::<Value>().await {
                    if let Some(access) = body["access_token"].as_str() {
                        session.access = access.to_owned();
                    }
                    session.refresh = body["refresh_token"].as_str().map(str::to_owned);
                }
                Some(code)
            }
            Err(_) => None,
        };
        self.check_in(session);
        ("POST /auth/refresh".to_owned(), code)
    }

    async fn add_review(&self) -> Outcome {
        let Some(mut session) = self.checkout() else {
            return self.list_products(false).await;
        };
        let product = self.product(false).to_owned();
        if !session.reviewed.insert(product.clone()) {
            self.check_in(session);
            return self.read_reviews().await;
        }
        let rating = rand::rng().random_range(1..=5);
        let answer = self
            .client
            .post(format!("{}/api/v1/products/{product}/reviews", self.base))
            .bearer_auth(&session.access)
            .json(&json!({ "rating": rating, "comment": "Written by the load generator." }))
            .send()
            .await;
        self.check_in(session);
        ("POST /products/{id}/reviews".to_owned(), status(answer))
    }

    async fn place_order(&self) -> Outcome {
        let Some(session) = self.checkout() else {
            return self.list_products(false).await;
        };
        let product = self.product(false).to_owned();
        let access = session.access.clone();
        self.check_in(session);
        let answer = self
            .client
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(&access)
            .json(&json!({ "items": [{ "product_id": product, "quantity": 1 }] }))
            .send()
            .await;
        let code = match answer {
            Ok(response) => {
                let code = response.status().as_u16();
                if let Ok(body) = response.json::<Value>().await
                    && let Some(id) = body["id"].as_str()
                {
                    self.pending
                        .lock()
                        .expect("poisoned")
                        .push_back((id.to_owned(), access));
                }
                Some(code)
            }
            Err(_) => None,
        };
        ("POST /orders".to_owned(), code)
    }

    async fn pay(&self) -> Outcome {
        let next = self.pending.lock().expect("poisoned").pop_front();
        let Some((order, access)) = next else {
            return self.place_order().await;
        };
        let answer = self
            .client
            .post(format!("{}/api/v1/orders/{order}/pay", self.base))
            .bearer_auth(&access)
            .json(&json!({ "card_token": "tok_success" }))
            .send()
            .await;
        ("POST /orders/{id}/pay".to_owned(), status(answer))
    }
}
