// A tiny, safe Markdown renderer: it builds DOM nodes with textContent only (never innerHTML), so model or user
// text cannot inject markup. Supports headings, bullet and numbered lists, paragraphs, **bold**, *italic*, `code`
// and http(s) links; everything else is shown as plain text.
(function () {
  'use strict';

  const inlinePattern = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*)|(\[[^\]\n]+\]\((https?:\/\/[^)\s]+)\))/g;

  function appendInline(parent, text) {
    let last = 0;
    for (const match of text.matchAll(inlinePattern)) {
      if (match.index > last) {
        parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      }
      const token = match[0];
      let node;
      if (match[1]) {
        node = document.createElement('code');
        node.textContent = token.slice(1, -1);
      } else if (match[2]) {
        node = document.createElement('strong');
        node.textContent = token.slice(2, -2);
      } else if (match[3]) {
        node = document.createElement('em');
        node.textContent = token.slice(1, -1);
      } else {
        node = document.createElement('a');
        node.textContent = token.slice(1, token.indexOf(']('));
        node.href = match[5];
        node.rel = 'noopener noreferrer';
        node.target = '_blank';
      }
      parent.appendChild(node);
      last = match.index + token.length;
    }
    if (last < text.length) {
      parent.appendChild(document.createTextNode(text.slice(last)));
    }
  }

  function renderMarkdown(source) {
    const root = document.createDocumentFragment();
    let list = null;
    let paragraph = null;
    for (const line of String(source).split(/\r\n|\r|\n/)) {
      const heading = /^(#{1,6})\s+(.*)$/.exec(line);
      const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
      if (heading) {
        list = paragraph = null;
        const h = document.createElement('h' + Math.min(heading[1].length + 1, 6));
        appendInline(h, heading[2]);
        root.appendChild(h);
      } else if (bullet || numbered) {
        paragraph = null;
        const tag = bullet ? 'ul' : 'ol';
        if (!list || list.tagName.toLowerCase() !== tag) {
          list = document.createElement(tag);
          root.appendChild(list);
        }
        const li = document.createElement('li');
        appendInline(li, (bullet || numbered)[1]);
        list.appendChild(li);
      } else if (line.trim() === '') {
        list = paragraph = null;
      } else {
        list = null;
        if (!paragraph) {
          paragraph = document.createElement('p');
          root.appendChild(paragraph);
        } else {
          paragraph.appendChild(document.createElement('br'));
        }
        appendInline(paragraph, line);
      }
    }
    return root;
  }

  window.AgentMarkdown = { render: renderMarkdown };
})();
