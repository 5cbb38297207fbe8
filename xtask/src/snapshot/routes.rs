//! The routes a crate's routers declare, read from method calls in its syntax tree:
//! `.route("/path", get(a).post(b))` gives `GET /path` and `POST /path`, `.route_service` gives
//! `ANY`, `on(MethodFilter::PUT, h)` gives `PUT`, and `.nest("/prefix", ...)` a [`Nest`].
//! A path may be a string constant of the crate (`.route(NOOP_PATH, get(noop))`), resolved
//! through [`Names`]. Code compiled only into tests (`#[cfg(test)]`) serves fakes of its own,
//! not the step's API, so it is skipped; so are closures inside a method router (a handler's
//! body is not routing).

use std::collections::BTreeSet;

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
pub fn routes_in(module: &Module, names: &Names, file: &str) -> (Vec<Route>, Vec<Nest>) {
    let mut finder = Finder {
        module: &module.path,
        names,
        file,
        routes: Vec::new(),
        nests: Vec::new(),
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
}

impl Finder<'_> {
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
            "route_service" => self.routes.push(Route {
                method: "ANY".into(),
                path,
                at,
            }),
            _ => {
                let mut methods = Methods::default();
                for arg in call.args.iter().skip(1) {
                    methods.visit_expr(arg);
                }
                for method in methods.0 {
                    self.routes.push(Route {
                        method,
                        path: path.clone(),
                        at: at.clone(),
                    });
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

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_cfg_test(&item.attrs) {
            visit::visit_item_fn(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_cfg_test(&item.attrs) {
            visit::visit_item_impl(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&item.attrs) {
            visit::visit_impl_item_fn(self, item);
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
