// What Podium's editor (engine/web/ui/static/js/editor.js) imports from CodeMirror 6.
// scripts/build-editor bundles this file and its dependencies into one ES module.
export { EditorState, StateEffect, StateField, Compartment, Prec } from "@codemirror/state";
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, dropCursor, rectangularSelection, crosshairCursor,
  hoverTooltip, Decoration, ViewPlugin, gutter, GutterMarker,
} from "@codemirror/view";
export {
  syntaxTree, foldGutter, foldKeymap, indentOnInput, indentUnit, bracketMatching,
  syntaxHighlighting, HighlightStyle, codeFolding,
} from "@codemirror/language";
export { defaultKeymap, history, historyKeymap, indentWithTab, insertNewlineAndIndent } from "@codemirror/commands";
export { searchKeymap, highlightSelectionMatches, openSearchPanel } from "@codemirror/search";
export {
  autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap, startCompletion,
  acceptCompletion, currentCompletions, completionStatus,
} from "@codemirror/autocomplete";
export { linter, lintGutter, setDiagnostics, forceLinting, diagnosticCount } from "@codemirror/lint";
export { yaml } from "@codemirror/lang-yaml";
export { tags } from "@lezer/highlight";
