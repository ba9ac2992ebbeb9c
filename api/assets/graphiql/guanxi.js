// The token field and GraphiQL's start. Inlined into /graphiql; the page's Content-Security-Policy
// allows this script by its hash and lets the page talk to its own server only.
(function () {
  'use strict';
  var STORED = 'guanxi.graphiql.token';
  var field = document.getElementById('guanxi-token');
  var params = new URLSearchParams(window.location.search);

  // ?token= fills the field once and is then taken out of the address bar and the history
  // entry, so the token is not bookmarked or passed on with a copied link. The tab keeps it
  // (sessionStorage) across reloads and forgets it when closed.
  if (params.has('token')) {
    field.value = params.get('token').trim();
    params.delete('token');
    var rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + (rest ? '?' + rest : '') + window.location.hash);
  } else {
    field.value = window.sessionStorage.getItem(STORED) || '';
  }
  function remember() {
    var token = field.value.trim();
    if (token) {
      window.sessionStorage.setItem(STORED, token);
    } else {
      window.sessionStorage.removeItem(STORED);
    }
  }
  remember();
  field.addEventListener('input', remember);

  // Read at each request, so a token pasted later is used without reloading. An Authorization
  // header typed into the headers pane wins over the field.
  function withToken(url, init) {
    var headers = Object.assign({}, init && init.headers);
    var token = field.value.trim();
    var named = Object.keys(headers).some(function (name) { return name.toLowerCase() === 'authorization'; });
    if (token && !named) {
      headers.Authorization = 'Bearer ' + token;
    }
    return window.fetch(url, Object.assign({}, init, { headers: headers, credentials: 'same-origin' }));
  }

  var props = {
    fetcher: GraphiQL.createFetcher({ url: new URL('/graphql', window.location.origin).toString(), fetch: withToken }),
    defaultEditorToolsVisibility: true,
  };
  // ?query=, ?variables= and ?operationName= open the IDE on that request (a link to share).
  ['query', 'variables', 'operationName'].forEach(function (name) {
    if (params.has(name)) {
      props[name] = params.get(name);
    }
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, props));
})();
