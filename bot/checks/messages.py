"""Every Chinese text the checks library shows that does not come from the campaign file.

Rule titles, hints and thresholds live in content/campaign.toml. This table holds the rest: problems
with the file itself (empty, wrong type, unsafe archive …), the names of the file kinds we detect,
and the words for values nobody could measure. Templates use ``str.format`` fields.
"""

from __future__ import annotations

# Problems that are not campaign rules. rule_id -> (level, title, hint template).
# Hint fields: {detected} what the file really is, {expected} what the category takes,
# {name} the file name, and per item the fields named in its comment.
FILE_PROBLEMS: dict[str, tuple[str, str, str]] = {
    "file.empty": (
        "error",
        "文件为空",
        "文件大小为0字节，可能是上传或导出中断了。请重新导出后再上传。",
    ),
    "file.type": (
        "error",
        "文件类型不符",
        "识别结果：{detected}；“{category}”需要{expected}。请确认选择了正确的申报类别，或换成正确的文件后重新上传。",
    ),
    # {ext}: the file's extension; {expected}: accepted extensions
    "file.extension": (
        "warning",
        "文件格式不在推荐范围内",
        "文件内容可以识别，但扩展名“{ext}”不在推荐格式（{expected}）之内。建议导出为推荐格式后上传，以免平台无法播放或打开。",
    ),
    # {reason}: what failed while opening
    "file.unreadable": (
        "error",
        "文件损坏，无法打开",
        "文件可以识别为{detected}，但无法正常打开（{reason}）。请重新导出或另存后再上传。",
    ),
    # {reason}: which limit was exceeded
    "file.zip_bomb": (
        "error",
        "压缩包超出安全限制",
        "压缩包{reason}，超出了安全限制，无法接收。请删除多余文件、不要嵌套压缩，重新打包后上传。",
    ),
    # {entry}: the first offending entry
    "file.zip_unsafe_path": (
        "error",
        "压缩包内有不安全的路径",
        "压缩包中的“{entry}”使用了绝对路径、“..”上级目录或链接，解压时可能覆盖别处的文件。请把所有文件放在同一个文件夹里重新打包。",
    ),
    "file.zip_encrypted": (
        "error",
        "压缩包设置了密码",
        "压缩包里的文件设置了密码，评审无法打开。请去掉密码后重新打包上传。",
    ),
    # {found}: html files in the zip; {declared}: pages the creator stated
    "file.h5_pages_mismatch": (
        "warning",
        "页面文件少于申报页数",
        "压缩包里只有{found}个 .html/.htm 页面文件，少于申报的{declared}页。如果多个页面做在同一个网页里可以忽略；否则请检查是否漏打包了页面。",
    ),
    "file.pdf_unreadable": (
        "note",
        "无法在这里读取 PDF",
        "这里暂时不能读取 PDF 的文字，字数无法自动统计。可以改传 Word（.docx）或纯文本文件，或由工作人员人工核对。",
    ),
    "file.pdf_no_text": (
        "note",
        "PDF 中没有可提取的文字",
        "这个 PDF 里没有可以提取的文字（可能是扫描件或图片），字数无法自动统计。请上传 Word（.docx）或纯文本版本。",
    ),
}

# The {reason} of file.unreadable, by what we tried to open.
UNREADABLE_REASONS: dict[str, str] = {
    "image": "读不出图片的尺寸",
    "zip": "压缩包的目录已损坏",
    "docx": "文档内容无法解析",
    "pdf": "PDF 结构损坏或设置了打开密码",
}

# The {reason} of file.zip_bomb (it follows the word "压缩包").
ZIP_REASONS: dict[str, str] = {
    "too_many": "包含{count}个条目（上限{limit}个）",
    "too_big": "解压后共{size}（上限{limit}）",
    "entry_ratio": "中的“{entry}”压缩比达到{ratio:.0f}倍（上限{limit:g}倍）",
    "ratio": "整体压缩比达到{ratio:.0f}倍（上限{limit:g}倍）",
    "overlap": "中有多个文件共用同一段压缩数据（一种压缩炸弹手法）",
}

# Measured-value words for the file items above (same fields as the hints).
FILE_PROBLEM_MEASURED: dict[str, str] = {
    "file.empty": "0字节",
    "file.type": "{detected}",
    "file.extension": "{ext}",
    "file.unreadable": "{reason}",
    "file.zip_bomb": "压缩包{reason}",
    "file.zip_unsafe_path": "{entry}",
    "file.zip_encrypted": "已加密",
    "file.h5_pages_mismatch": "{found}个页面文件",
    "file.pdf_unreadable": "—",
    "file.pdf_no_text": "0字",
}

# Expected-value words for the file items above.
FILE_PROBLEM_EXPECTED: dict[str, str] = {
    "file.empty": "非空文件",
    "file.type": "{expected}",
    "file.extension": "{expected}",
    "file.unreadable": "可以正常打开",
    "file.zip_bomb": "在安全限制之内",
    "file.zip_unsafe_path": "只有相对路径",
    "file.zip_encrypted": "未加密",
    "file.h5_pages_mismatch": "≥ {declared}个页面文件",
    "file.pdf_unreadable": "可读取文字",
    "file.pdf_no_text": "可提取文字",
}

# What we found, in words. Keys are the detected kinds (bot/checks/core.py); details follow in （）.
KIND_NAMES: dict[str, str] = {
    "empty": "空文件（0字节）",
    "video": "视频文件",
    "audio": "音频文件",
    "image": "图片",
    "docx": "Word 文档",
    "doc": "旧版 Word 文档（.doc，需另存为 .docx）",
    "office": "Office 表格或演示文稿",
    "pdf": "PDF 文档",
    "text": "纯文本",
    "zip": "ZIP 压缩包",
    "apk": "Android 安装包（APK）",
    "archive": "RAR、7z 或 gzip 压缩包",
    "unknown": "无法识别的文件",
    "measured": "测量数据",
}

# Pieces of the details in （） after the kind's name.
LABEL_PARTS: dict[str, str] = {
    "size": "{w}×{h}",
    "rotated": "旋转{deg}°",
    "no_video": "没有视频画面",
    "incomplete": "文件不完整",
    "chars": "{chars}字",
    "zip_files": "{files}个文件",
    "html_pages": "其中{pages}个网页文件（.html/.htm）",
    "series": "{count}个文件：{labels}",
    "more": "等",
}

# What a category takes, by kind (joined with "或").
KIND_EXPECTED: dict[str, str] = {
    "video": "视频文件",
    "image": "图片（jpg、png 等）",
    "docx": "Word 文档（.docx）",
    "pdf": "PDF 文档",
    "text": "纯文本（.txt、.md）",
    "zip": "ZIP 压缩包",
    "apk": "Android 安装包（APK）",
}

# Words for rule items whose value could not be had.
DECLARED_MISSING_TEXT = "未填写"
DECLARED_MISSING_HINT = "申报表里还没有填写“{title}”，请补充后再提交。{hint}"
DECLARED_INVALID_TEXT = "填写有误：{value}"
NOT_MEASURABLE_TEXT = "无法测量"
NOT_MEASURABLE_HINT = "这一项无法从文件中自动测得，请确认文件完整，或请工作人员人工核对。"

# Display of measured values.
YES = "是"
NO = "否"
HAS_VIDEO = {True: "有视频画面", False: "没有视频画面"}
NOT_TRUNCATED = {True: "完整", False: "不完整（文件被截断）"}
RESOLUTION = "{w}×{h}（短边 {short} px）"
RESOLUTION_ROTATED = "{w}×{h}，旋转{deg}°后为{dw}×{dh}（短边 {short} px）"
IMAGE_LONG_SIDE = "{w}×{h}（长边 {side} px）"
IMAGE_SHORT_SIDE = "{w}×{h}（短边 {side} px）"
BITRATE_WITH_VIDEO = "{overall}（其中视频流 {video}）"
DURATION_HMS = "{h}小时{m}分{s}秒"
DURATION_MS = "{m}分{s}秒"
DURATION_S = "{s}秒"
SERIES_MORE_FAILING = "；另有{count}个文件不达标：{names}"

# Summary lines for the terminal.
STATUS_ICONS = {"pass": "✅", "unknown": "❔"}
FAIL_ICONS = {"error": "❌", "warning": "⚠️", "note": "💡"}
SUMMARY_OK = "通过"
SUMMARY_FAIL = "不通过"
SUMMARY_COUNTS = "{errors}项错误，{warnings}项提醒，{notes}条建议"
FILES_ONLY_NOTE = "只检查了文件本身；申报表中填写的项目（{titles}）用 --declare 键=值 提供后一并检查。"
