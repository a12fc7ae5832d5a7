// Passkeys on our pages: the sign-in page's "Sign in with a passkey" button and the autofill
// (conditional UI), and "Add a passkey" on the account page. Served from our origin under
// script-src 'self', after /assets/simplewebauthn-browser.js (the global SimpleWebAuthnBrowser).
// Without JavaScript, or without WebAuthn, none of this shows and every form works as before.
// The pages say where to post (data-options, data-login, data-add), the CSRF token (data-csrf) and
// the messages in the page's language (data-*); the server's JSON errors carry their own.
(() => {
  'use strict';
  const lib = globalThis.SimpleWebAuthnBrowser;
  if (!lib) return;

  /** POSTs JSON; the answer's status and body (an empty object when it is not JSON). */
  async function postJson(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
    } catch {
      return { ok: false, status: 0, data: {} };
    }
    let data = {};
    try {
      data = await response.json();
    } catch {
      // An HTML error page (a proxy in front of us): the page's own message is shown.
    }
    return { ok: response.ok, status: response.status, data: data && typeof data === 'object' ? data : {} };
  }

  function messenger(element) {
    return (text, isError) => {
      element.textContent = text || '';
      element.classList.toggle('error', Boolean(isError));
    };
  }

  /**
   * The sign-in page: a button, and the browser's autofill offering passkeys in the email field.
   * The block (#passkey-sign-in) names its two JSON routes: data-options answers the options for
   * navigator.credentials.get(), data-login takes { csrf, response } and answers { redirect } or
   * { error_description }.
   */
  function signIn(box) {
    const button = box.querySelector('#passkey-button');
    const say = messenger(box.querySelector('#passkey-message'));
    const { options: optionsUrl, login: loginUrl, csrf } = box.dataset;
    // Each start of a ceremony gets a number: an autofill request that got its options after the
    // button was pressed must not start (it would cancel the button's).
    let generation = 0;

    async function ceremony(autofill) {
      const mine = ++generation;
      if (!autofill) {
        button.disabled = true;
        say(box.dataset.working, false);
      }
      try {
        const options = await postJson(optionsUrl, { csrf });
        if (options.data.redirect) return location.assign(options.data.redirect);
        if (!options.ok) return autofill || say(options.data.error_description || box.dataset.refused, true);
        if (mine !== generation) return;
        let response;
        try {
          response = await lib.startAuthentication({ optionsJSON: options.data, useBrowserAutofill: autofill });
        } catch {
          // The autofill is cancelled by the button (or never used): nothing to say.
          return autofill || say(box.dataset.cancelled, true);
        }
        say(box.dataset.working, false);
        const result = await postJson(loginUrl, { csrf, response });
        if (result.data.redirect) return location.assign(result.data.redirect);
        say(result.data.error_description || box.dataset.refused, true);
      } finally {
        if (!autofill) button.disabled = false;
      }
    }

    box.hidden = false;
    button.addEventListener('click', () => {
      ceremony(false);
    });
    // The autofill only where a field asks for it (the sign-in page's email; a second-factor page
    // that reuses this block with its own data-options and data-login has none).
    if (!document.querySelector('input[autocomplete~="webauthn"]')) return;
    lib.browserSupportsWebAuthnAutofill().then(
      (supported) => {
        if (supported) ceremony(true);
      },
      () => undefined,
    );
  }

  /**
   * The account's first passkey came with recovery codes: they are shown here, once, in place of the
   * form; "continue" goes where the page would have gone.
   */
  function showRecoveryCodes(form, data) {
    const section = document.getElementById('passkey-recovery');
    const list = document.getElementById('passkey-recovery-codes');
    for (const code of data.recovery_codes) {
      const item = document.createElement('li');
      item.textContent = code;
      list.append(item);
    }
    document.getElementById('passkey-recovery-download').href = data.recovery_codes_download;
    document.getElementById('passkey-recovery-continue').href = data.redirect;
    form.hidden = true;
    section.hidden = false;
    document.getElementById('passkey-recovery-heading').focus();
  }

  /** The account page: "Add a passkey" asks for a name and the password, then the browser makes it. */
  function addPasskey(form) {
    const say = messenger(form.querySelector('#passkey-message'));
    const { options: optionsUrl, add: addUrl, csrf } = form.dataset;
    const submit = form.querySelector('button[type=submit]');
    form.hidden = false;
    const note = document.getElementById('passkey-needs-script');
    if (note) note.hidden = true;

    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      const password = form.elements.password.value;
      submit.disabled = true;
      say(form.dataset.working, false);
      try {
        const options = await postJson(optionsUrl, { csrf, password });
        if (!options.ok) return say(options.data.error_description || form.dataset.failed, true);
        form.elements.password.value = '';
        let response;
        try {
          response = await lib.startRegistration({ optionsJSON: options.data });
        } catch (err) {
          // InvalidStateError: this authenticator already holds one of the account's passkeys.
          return say(err && err.name === 'InvalidStateError' ? form.dataset.already : form.dataset.cancelled, true);
        }
        const result = await postJson(addUrl, { csrf, name, response });
        if (result.data.recovery_codes) return showRecoveryCodes(form, result.data);
        if (result.data.redirect) return location.assign(result.data.redirect);
        say(result.data.error_description || form.dataset.failed, true);
      } finally {
        submit.disabled = false;
      }
    });
  }

  if (!lib.browserSupportsWebAuthn()) {
    const note = document.getElementById('passkey-needs-script');
    const form = document.getElementById('passkey-add');
    if (note && form) note.textContent = form.dataset.unsupported;
    return;
  }
  const box = document.getElementById('passkey-sign-in');
  if (box) signIn(box);
  const form = document.getElementById('passkey-add');
  if (form) addPasskey(form);
})();
