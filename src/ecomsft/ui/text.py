"""The interface's words in Chinese and English; the language from ``?lang=``, then the cookie the
switch sets, then the browser's Accept-Language (Chinese first where it asks for it)."""

from __future__ import annotations

TEXT = {
    "en": {
        "runs": "Runs", "run": "run", "finished": "finished", "task": "task", "model": "model",
        "main_metric": "test accuracy / NDCG@10", "baseline": "baseline", "metric": "test metric",
        "fine_tuned": "fine-tuned", "no_runs": "No finished run under {root} yet.", "no_run": "No such run",
        "no_run_text": "'{name}' is not a finished run under the root folder.", "refused": "Refused",
        "run_line": "task {task}, model {model}", "open_report": "Open the report", "try": "Try it",
        "answer": "Answer", "empty_text": "Type a text first (an empty text is refused).",
        "no_page": "{path} is not a page of this interface.",
    },
    "zh": {
        "runs": "训练记录", "run": "运行", "finished": "完成时间", "task": "任务", "model": "模型",
        "main_metric": "测试准确率 / NDCG@10", "baseline": "基线", "metric": "测试指标", "fine_tuned": "微调模型",
        "no_runs": "{root} 下还没有完成的运行。", "no_run": "没有这个运行", "no_run_text": "“{name}” 不是根目录下完成的运行。",
        "refused": "无法完成", "run_line": "任务 {task}，模型 {model}", "open_report": "打开报告", "try": "试一试",
        "answer": "结果", "empty_text": "请先输入文本（空文本不被接受）。", "no_page": "{path} 不是本界面的页面。",
    },
}


def language(request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("lang")
    if asked in TEXT:
        return asked
    return "zh" if request.headers.get("accept-language", "").lower().startswith("zh") else "en"


def say(lang: str, key: str, **values) -> str:
    return TEXT[lang][key].format(**values)
