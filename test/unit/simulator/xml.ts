/**
 * A tiny XML well-formedness checker for the JUnit reports (no XML dependency in the project): one root,
 * properly nested and closed tags, quoted attributes without raw `<`, only the five predefined entities or
 * character references, no raw `&` or `<` in text. Returns the element tree, or throws saying what is wrong.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

function decode(text: string, where: string): string {
  if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) throw new Error(`raw & in ${where}: ${text}`);
  return text.replace(ENTITY, (e) => ({ '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" })[e] ?? e);
}

export function parseXml(xml: string): XmlElement {
  let rest = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const text = lt === -1 ? rest : rest.slice(0, lt);
    if (text.trim() !== '') {
      if (stack.length === 0) throw new Error(`text outside the root element: ${text.trim().slice(0, 40)}`);
      stack[stack.length - 1].text += decode(text, 'text');
    }
    if (lt === -1) break;
    rest = rest.slice(lt);
    const close = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(rest);
    if (close) {
      const open = stack.pop();
      if (!open || open.name !== close[1]) throw new Error(`</${close[1]}> closes ${open ? `<${open.name}>` : 'nothing'}`);
      rest = rest.slice(close[0].length);
      continue;
    }
    const tag = /^<([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*\s*=\s*"[^"<]*")*)\s*(\/?)>/.exec(rest);
    if (!tag) throw new Error(`malformed markup at: ${rest.slice(0, 60)}`);
    const attributes: Record<string, string> = {};
    for (const m of tag[2].matchAll(/([A-Za-z_][\w.-]*)\s*=\s*"([^"<]*)"/g)) {
      if (m[1] in attributes) throw new Error(`duplicate attribute ${m[1]} on <${tag[1]}>`);
      attributes[m[1]] = decode(m[2], `attribute ${m[1]}`);
    }
    const element: XmlElement = { name: tag[1], attributes, children: [], text: '' };
    if (stack.length > 0) stack[stack.length - 1].children.push(element);
    else if (root) throw new Error('more than one root element');
    else root = element;
    if (tag[3] !== '/') stack.push(element);
    rest = rest.slice(tag[0].length);
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (!root) throw new Error('no root element');
  return root;
}
