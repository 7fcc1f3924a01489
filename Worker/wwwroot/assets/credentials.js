// The pages' credentials: a sign-in token or API key kept in the agent_api_key cookie, because EventSource cannot send
// headers (SameSite=Strict keeps other sites from using it). A link may carry one in its fragment (#token=…), as the
// AppHost's links do for the demo user: fragments are never sent to a server; the page moves it to the cookie and
// drops it from the address and the history.
window.agentCredentials = (function () {
  'use strict';

  function save(value) {
    document.cookie = 'agent_api_key=' + encodeURIComponent(value) + '; path=/; SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');
  }

  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    save(decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }

  return { save };
})();
