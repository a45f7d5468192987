"""The interface's words in Chinese and English; the language from ``?lang=``, then the cookie the
switch sets, then the browser's Accept-Language (Chinese first where it asks for it)."""

from __future__ import annotations

TEXT = {
    "en": {
        "runs": "Runs", "run": "run", "finished": "finished", "task": "task", "model": "model",
        "main_metric": "test accuracy / NDCG@10 / quadruple F1", "baseline": "baseline", "metric": "test metric",
        "fine_tuned": "fine-tuned", "no_runs": "No finished run under {root} yet.", "no_run": "No such run",
        "no_run_text": "'{name}' is not a finished run under the root folder.", "refused": "Refused",
        "run_line": "task {task}, model {model}", "open_report": "Open the report", "try": "Try it",
        "answer": "Answer", "empty_text": "Type a text first (an empty text is refused).",
        "no_page": "{path} is not a page of this interface.",
        "new_run": "New run", "trainings": "Trainings", "status": "status", "compare": "Compare selected runs",
        "compare_two": "Select at least two runs to compare.", "blend": "delivered (blend)", "train_seconds": "training s",
        "try_hint": "A text (for a ranking run: the query on the first line, one product per line after it).",
        "score_file": "Score a file", "score": "Score", "scored": "{rows} rows scored:",
        "remove": "Remove this run", "remove_ask": "Remove this run folder (only the files ecomsft wrote)?",
        "remove_hint": "Deletes only the files ecomsft wrote; a folder holding anything else is left as it is.",
        "too_big": "The file is over the upload limit of {mb} MB.", "no_file": "Choose a file first.",
        "upload_hint": "A table of labelled texts: CSV, TSV, JSONL, Parquet or Excel, up to {mb} MB.",
        "upload": "Upload", "none": "(none)", "text_column": "text column", "text_pair_column": "second text column (product)",
        "label_column": "label column", "model_hint": "auto picks one for the texts' language",
        "auto_reason": "auto: {model}, for {reason} in column '{column}'",
        "minutes": "time budget (minutes, empty: no limit)", "run_name": "run name (a folder under the root)",
        "advanced": "Advanced settings (the configuration, as ecomsft config show prints it)",
        "file_settings": "A setting that names a second file (task.labels of an aspects run, data.valid, data.test) "
                         "offers your other uploads: upload that file first, then pick it here.",
        "command": "The same training from a terminal:", "train": "Train",
        "preview_line": "{file}: {rows} rows, read as {encoding}. The first rows:",
        "queued": "queued (position {position})", "job_running": "training", "job_finished": "finished", "job_failed": "failed",
        "job_stopped": "stopped", "stop": "Stop", "resume": "Resume", "open_run": "Open the trained run",
        "loss": "training loss", "validation": "validation", "log": "Log",
        "msg_dequeued": "removed from the queue before it started",
        "msg_resumable": "stopped; its checkpoints are kept: Resume continues it",
        "msg_stopped_early": "stopped before its first checkpoint: train it anew",
    },
    "zh": {
        "runs": "训练记录", "run": "运行", "finished": "完成时间", "task": "任务", "model": "模型",
        "main_metric": "测试准确率 / NDCG@10 / 四元组 F1", "baseline": "基线", "metric": "测试指标", "fine_tuned": "微调模型",
        "no_runs": "{root} 下还没有完成的运行。", "no_run": "没有这个运行", "no_run_text": "“{name}” 不是根目录下完成的运行。",
        "refused": "无法完成", "run_line": "任务 {task}，模型 {model}", "open_report": "打开报告", "try": "试一试",
        "answer": "结果", "empty_text": "请先输入文本（空文本不被接受）。", "no_page": "{path} 不是本界面的页面。",
        "new_run": "新建训练", "trainings": "训练任务", "status": "状态", "compare": "比较所选运行",
        "compare_two": "请至少选择两个运行进行比较。", "blend": "最终交付（融合）", "train_seconds": "训练秒数",
        "try_hint": "输入一段文本（排序任务：第一行是查询，之后每行一个商品）。",
        "score_file": "批量打分", "score": "打分", "scored": "已打分 {rows} 行：",
        "remove": "删除此运行", "remove_ask": "删除此运行目录（只删除 ecomsft 写入的文件）？",
        "remove_hint": "只删除 ecomsft 写入的文件；目录中有其他文件时不做任何删除。",
        "too_big": "文件超过上传上限 {mb} MB。", "no_file": "请先选择文件。",
        "upload_hint": "带标注文本的表格：CSV、TSV、JSONL、Parquet 或 Excel，最大 {mb} MB。",
        "upload": "上传", "none": "（无）", "text_column": "文本列", "text_pair_column": "第二文本列（商品）",
        "label_column": "标签列", "model_hint": "auto 会按文本语言自动选择",
        "auto_reason": "auto：{model}，依据“{column}”列：{reason}",
        "minutes": "时间预算（分钟，留空为不限）", "run_name": "运行名称（根目录下的文件夹）",
        "advanced": "高级设置（配置项，与 ecomsft config show 相同）",
        "file_settings": "需要第二个文件的设置（观点任务的 task.labels、data.valid、data.test）可选择你上传过的其他文件："
                         "先上传该文件，再在此处选择。",
        "command": "在终端中运行同样的训练：", "train": "开始训练",
        "preview_line": "{file}：{rows} 行，编码 {encoding}。前几行：",
        "queued": "排队中（第 {position} 位）", "job_running": "训练中", "job_finished": "已完成", "job_failed": "失败",
        "job_stopped": "已停止", "stop": "停止", "resume": "继续训练", "open_run": "打开训练结果",
        "loss": "训练损失", "validation": "验证", "log": "日志",
        "msg_dequeued": "开始前已从队列中移除",
        "msg_resumable": "已停止；检查点已保留，可“继续训练”",
        "msg_stopped_early": "在第一个检查点之前停止：请重新训练",
    },
}


def language(request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("lang")
    if asked in TEXT:
        return asked
    return "zh" if request.headers.get("accept-language", "").lower().startswith("zh") else "en"


def say(lang: str, key: str, **values) -> str:
    return TEXT[lang][key].format(**values)


def message(lang: str, text: str) -> str:
    """A job's message: its words in ``lang`` when it is one of ours (``msg_*``), else as it came."""
    return say(lang, text) if text.startswith("msg_") and text in TEXT[lang] else text
