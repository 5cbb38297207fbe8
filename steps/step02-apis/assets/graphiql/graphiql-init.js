// Starts GraphiQL against this server's /graphql. Kept in its own file (not inline in the
// page) so the page's Content-Security-Policy can allow scripts from 'self' only.
(function () {
  "use strict";
  var fetcher = GraphiQL.createFetcher({ url: "/graphql" });
  ReactDOM.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultQuery:
        "# Sign in through /api/v1/auth/login, then add a header (below):\n" +
        '# {"Authorization": "Bearer <token>"}\n' +
        "{\n  products(first: 5) {\n    edges { node { id name priceMinor currency ratingAverage } }\n    pageInfo { hasNextPage endCursor }\n  }\n}\n",
    }),
    document.getElementById("graphiql")
  );
})();
