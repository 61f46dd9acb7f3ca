// unattend.xml from the checked model. fast-xml-parser's XMLBuilder writes every
// element and attribute and escapes their text; no user value is concatenated
// into markup.
import { XMLBuilder } from "fast-xml-parser";
import { checkAnswerFile, passOrder, type AnswerFile, type SettingGroup, type SettingValue } from "../../core/unattend.ts";
import { listItemName } from "../../core/unattend-schema.ts";

type XmlNode = string | XmlElement | XmlElement[];
interface XmlElement {
  [name: string]: XmlNode;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: "@_", format: true, indentBy: "  ", suppressBooleanAttributes: false });

function element(v: SettingValue): XmlNode {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) throw new Error("A list must sit under its list element");
  return group(v);
}

function group(g: SettingGroup): XmlElement {
  const out: XmlElement = {};
  for (const [name, v] of Object.entries(g)) {
    if (Array.isArray(v)) {
      // A keyed list: each item is added to the list Windows Setup keeps (wcm:action="add").
      const item = Object.hasOwn(listItemName, name) ? (listItemName[name] as string) : name;
      out[name] = { [item]: v.map((x) => ({ "@_wcm:action": "add", ...group(x) })) };
    } else {
      out[name] = element(v);
    }
  }
  return out;
}

/** The answer file as Windows Setup reads it; refused (INVALID_ANSWER_FILE) when it does not pass checkAnswerFile. */
export function renderAnswerFile(f: AnswerFile): string {
  checkAnswerFile(f);
  const passes = [...f.passes].sort((a, b) => passOrder.indexOf(a.pass) - passOrder.indexOf(b.pass));
  const settings = passes.map((p) => ({
    "@_pass": p.pass,
    component: p.components.map((c) => ({
      "@_name": c.name,
      "@_processorArchitecture": c.processorArchitecture,
      "@_publicKeyToken": c.publicKeyToken,
      "@_language": c.language,
      "@_versionScope": c.versionScope,
      ...group(c.settings),
    })),
  }));
  return builder.build({
    "?xml": { "@_version": "1.0", "@_encoding": "utf-8" },
    unattend: { "@_xmlns": "urn:schemas-microsoft-com:unattend", "@_xmlns:wcm": "http://schemas.microsoft.com/WMIConfig/2002/State", settings },
  }) as string;
}
