//! The routes a crate's routers declare, read from method calls in its syntax tree:
//! `.route("/path", get(a).post(b))` gives `GET /path` and `POST /path`, `.route_service` gives
//! `ANY`, `on(MethodFilter::PUT, h)` gives `PUT`, and `.nest("/prefix", ...)` a [`Nest`].
//! A path may be a string constant of the crate (`.route(NOOP_PATH, get(noop))`), resolved
//! through [`Names`]. Code compiled only into tests (`#[cfg(test)]`) serves fakes of its own,
//! not the step's API, so it is skipped; so are closures inside a method router (a handler's
//! body is not routing). A router built by a function that a `.nest(prefix, f())` of the same
//! crate reaches (through the functions `f` calls) sits under that prefix ([`nested_fns`]),
//! so step 2's `/api/v2/products` is not mistaken for v1's `/products` registered again.
//! Swagger UI's router (`SwaggerUi::new(path).url(document, ..)`) declares its two paths.

use std::collections::{BTreeSet, HashMap};

use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};

use super::modules::{Module, is_cfg_test};
use super::names::{Names, segments};

/// One route as the router declares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// `GET`, `POST`, ... or `ANY` for a whole service.
    pub method: String,
    /// The path as written: relative to where the router is nested (see [`Nest`]).
    pub path: String,
    /// `file:line`, relative to the workspace root.
    pub at: String,
    /// The prefix a `.nest` of the same crate puts the route under; `None` when the crate
    /// does not nest it (it is at the root, or another crate nests it).
    pub prefix: Option<String>,
}

impl Route {
    /// The path with its known prefix: `/api/v2/products`.
    pub fn full_path(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}{}", self.path),
            None => self.path.clone(),
        }
    }
}

/// The functions of a crate that build routers nested by the crate itself, each with its
/// prefix: `(module path + function name) -> prefix`.
#[derive(Debug, Default)]
pub struct Nested(HashMap<Vec<String>, String>);

/// Which functions of the crate of `modules` a `.nest(prefix, f(..))` reaches: `f`, and every
/// crate function those call, transitively. A router handed over as an argument is not
/// followed (step 0's `/auth` router is nested where step 1 passes its own).
pub fn nested_fns(modules: &[Module]) -> Nested {
    let mut bodies: HashMap<Vec<String>, (&[String], &syn::Block)> = HashMap::new();
    for module in modules.iter().filter(|m| !m.test_only) {
        for item in &module.items {
            let key = |ident: &syn::Ident| {
                let mut key = module.path.clone();
                key.push(ident.to_string());
                key
            };
            match item {
                syn::Item::Fn(f) if !is_cfg_test(&f.attrs) => {
                    bodies.insert(key(&f.sig.ident), (&module.path, &f.block));
                }
                syn::Item::Impl(block) if !is_cfg_test(&block.attrs) => {
                    for inner in &block.items {
                        if let syn::ImplItem::Fn(f) = inner {
                            bodies.insert(key(&f.sig.ident), (&module.path, &f.block));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let resolve = |module: &[String], path: &[String]| -> Option<Vec<String>> {
        let (base, rest): (Vec<String>, &[String]) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (module.to_vec(), &path[1..]),
            Some("super") => (
                module[..module.len().saturating_sub(1)].to_vec(),
                &path[1..],
            ),
            _ => (module.to_vec(), path),
        };
        let mut key = base;
        key.extend(rest.iter().cloned());
        if bodies.contains_key(&key) {
            return Some(key);
        }
        // A path written from the crate root without `crate::`.
        bodies.contains_key(path).then(|| path.to_vec())
    };
    // The crate functions `calls` names, each under `prefix`.
    let under = |module: &[String], calls: Calls, prefix: &str| -> Vec<(Vec<String>, String)> {
        calls
            .0
            .iter()
            .filter_map(|path| resolve(module, path))
            .map(|key| (key, prefix.to_owned()))
            .collect()
    };
    let mut work: Vec<(Vec<String>, String)> = Vec::new();
    for (module, body) in bodies.values() {
        let mut nests = NestCalls::default();
        nests.visit_block(body);
        for (prefix, router) in nests.0 {
            let mut calls = Calls::default();
            calls.visit_expr(router);
            work.extend(under(module, calls, &prefix));
        }
    }
    let mut nested = HashMap::new();
    while let Some((key, prefix)) = work.pop() {
        if nested.contains_key(&key) {
            continue;
        }
        let Some((module, body)) = bodies.get(&key) else {
            continue;
        };
        let mut calls = Calls::default();
        calls.visit_block(body);
        work.extend(under(module, calls, &prefix));
        nested.insert(key, prefix);
    }
    Nested(nested)
}

/// `.nest("/prefix", router)` calls with a literal prefix: the prefix and the router.
#[derive(Default)]
struct NestCalls<'ast>(Vec<(String, &'ast syn::Expr)>);

impl<'ast> Visit<'ast> for NestCalls<'ast> {
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        if call.method == "nest"
            && let (
                Some(syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(prefix),
                    ..
                })),
                Some(router),
            ) = (call.args.first(), call.args.get(1))
        {
            self.0.push((prefix.value(), router));
        }
        visit::visit_expr_method_call(self, call);
    }
}

/// The paths of the functions an expression calls.
#[derive(Default)]
struct Calls(Vec<Vec<String>>);

impl<'ast> Visit<'ast> for Calls {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(func) = &*call.func {
            self.0.push(segments(&func.path));
        }
        visit::visit_expr_call(self, call);
    }
}

/// A `.nest("/prefix", ...)`: the routes of the nested router sit under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Nest {
    pub prefix: String,
    pub at: String,
}

const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace", "connect", "any",
];

/// The routes and nests of one module of the crate `names` holds; `file` is how
/// [`Route::at`] names its file.
#[cfg(test)]
pub fn routes_in(module: &Module, names: &Names, file: &str) -> (Vec<Route>, Vec<Nest>) {
    routes_nested(module, names, file, &Nested::default())
}

/// [`routes_in`], each route under the prefix `nested` gives the function that declares it.
pub fn routes_nested(
    module: &Module,
    names: &Names,
    file: &str,
    nested: &Nested,
) -> (Vec<Route>, Vec<Nest>) {
    let mut finder = Finder {
        module: &module.path,
        names,
        file,
        routes: Vec::new(),
        nests: Vec::new(),
        nested,
        prefix: None,
    };
    if !module.test_only {
        for item in &module.items {
            finder.visit_item(item);
        }
    }
    (finder.routes, finder.nests)
}

struct Finder<'a> {
    module: &'a [String],
    names: &'a Names<'a>,
    file: &'a str,
    routes: Vec<Route>,
    nests: Vec<Nest>,
    nested: &'a Nested,
    /// The prefix of the function being read, when the crate nests what it builds.
    prefix: Option<String>,
}

impl Finder<'_> {
    /// Reads a function's body under its prefix.
    fn within(&mut self, ident: &syn::Ident, read: impl FnOnce(&mut Self)) {
        let mut key = self.module.to_vec();
        key.push(ident.to_string());
        let outer = std::mem::replace(&mut self.prefix, self.nested.0.get(&key).cloned());
        read(self);
        self.prefix = outer;
    }

    fn push(&mut self, method: &str, path: String, at: String) {
        self.routes.push(Route {
            method: method.to_owned(),
            path,
            at,
            prefix: self.prefix.clone(),
        });
    }

    /// The path a call's first argument names, and its line.
    fn path_of(&self, arg: &syn::Expr) -> Option<(String, usize)> {
        match arg {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some((text.value(), text.span().start().line)),
            syn::Expr::Path(path) => {
                let text = self.names.find_string(self.module, &segments(&path.path))?;
                let line = path.path.segments.last()?.ident.span().start().line;
                Some((text.to_owned(), line))
            }
            _ => None,
        }
    }

    fn record(&mut self, call: &syn::ExprMethodCall) {
        let name = call.method.to_string();
        if name == "url" && is_swagger_ui(&call.receiver) {
            if let Some((path, line)) = call.args.first().and_then(|arg| self.path_of(arg)) {
                self.push("GET", path, format!("{}:{line}", self.file));
            }
            return;
        }
        if !matches!(
            name.as_str(),
            "route" | "route_service" | "nest" | "nest_service"
        ) {
            return;
        }
        let Some((path, line)) = call.args.first().and_then(|arg| self.path_of(arg)) else {
            return;
        };
        let at = format!("{}:{line}", self.file);
        match name.as_str() {
            "nest" | "nest_service" => self.nests.push(Nest { prefix: path, at }),
            "route_service" => self.push("ANY", path, at),
            _ => {
                let mut methods = Methods::default();
                for arg in call.args.iter().skip(1) {
                    methods.visit_expr(arg);
                }
                for method in methods.0 {
                    self.push(&method, path.clone(), at.clone());
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    /// The receiver first: a chain `Router::new().route(a).route(b)` is read in source order.
    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        self.visit_expr(&call.receiver);
        self.record(call);
        for arg in &call.args {
            self.visit_expr(arg);
        }
    }

    /// `SwaggerUi::new("/api-docs")`: the UI under that path.
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if is_swagger_ui_new(call)
            && let Some((path, line)) = call.args.first().and_then(|arg| self.path_of(arg))
        {
            self.push(
                "GET",
                format!("{}/", path.trim_end_matches('/')),
                format!("{}:{line}", self.file),
            );
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_cfg_test(&item.attrs) {
            self.within(&item.sig.ident, |this| visit::visit_item_fn(this, item));
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_cfg_test(&item.attrs) {
            visit::visit_item_impl(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&item.attrs) {
            self.within(&item.sig.ident, |this| {
                visit::visit_impl_item_fn(this, item)
            });
        }
    }

    /// A macro's arguments are tokens to syn; most that hold routes take expressions
    /// (`vec![...]`, `assert!(...)`), which are read as such.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let parser = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = mac.parse_body_with(parser) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
    }
}

/// `SwaggerUi::new(..)`.
fn is_swagger_ui_new(call: &syn::ExprCall) -> bool {
    let syn::Expr::Path(func) = &*call.func else {
        return false;
    };
    let names: Vec<String> = segments(&func.path);
    names.ends_with(&["SwaggerUi".to_owned(), "new".to_owned()])
}

/// Whether a method chain starts at `SwaggerUi::new(..)`.
fn is_swagger_ui(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::MethodCall(call) => is_swagger_ui(&call.receiver),
        syn::Expr::Call(call) => is_swagger_ui_new(call),
        _ => false,
    }
}

/// The methods of a method router: `get(a).post(b)`, `get_service(s)`, `MethodFilter::PUT`.
#[derive(Default)]
struct Methods(BTreeSet<String>);

impl Methods {
    fn note(&mut self, name: &syn::Ident) {
        let name = name.to_string();
        let base = name.strip_suffix("_service").unwrap_or(&name);
        if METHODS.contains(&base) {
            self.0.insert(base.to_ascii_uppercase());
        }
    }
}

impl<'ast> Visit<'ast> for Methods {
    fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
        if let syn::Expr::Path(func) = &*call.func
            && let Some(last) = func.path.segments.last()
        {
            self.note(&last.ident);
        }
        visit::visit_expr_call(self, call);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        self.note(&call.method);
        visit::visit_expr_method_call(self, call);
    }

    fn visit_expr_path(&mut self, path: &'ast syn::ExprPath) {
        let segments: Vec<&syn::PathSegment> = path.path.segments.iter().collect();
        if let [.., filter, method] = segments.as_slice()
            && filter.ident == "MethodFilter"
        {
            self.0.insert(method.ident.to_string().to_ascii_uppercase());
        }
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
}
