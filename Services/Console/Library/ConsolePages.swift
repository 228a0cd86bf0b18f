import Foundation
import Mustache

/// The console's words in Chinese (the default) and English (`?lang=en`, kept in a cookie).
enum Words {
    static let table: [String: (zh: String, en: String)] = [
        "title": ("村卫生室医保定点管理 运营控制台", "Village clinic designation: operations console"),
        "overview": ("覆盖概览", "Coverage"), "ledger": ("工作台账", "Work ledger"), "settlements": ("结算与基金支付", "Settlements and fund paid"),
        "supervision": ("监管", "Supervision"), "actions": ("操作", "Actions"), "logout": ("退出", "Sign out"),
        "login": ("登录", "Sign in"), "name": ("用户名", "User name"), "password": ("密码", "Password"),
        "badLogin": ("用户名或密码错误", "Wrong user name or password"),
        "region": ("地区", "Region"), "villages": ("有村卫生室的行政村", "Villages with clinics"), "covered": ("已覆盖", "Covered"),
        "share": ("覆盖率", "Share"), "clinics": ("村卫生室", "Clinics"), "designated": ("已定点", "Designated"),
        "gaps": ("未覆盖的行政村", "Villages not covered"), "progress": ("定点进度（目标：2024-12-31 村村通）", "Designation progress (target: every village by 2024-12-31)"),
        "children": ("下级地区", "Divisions"), "asOf": ("截至", "As of"), "reason": ("原因", "Reason"), "plan": ("整改计划", "Plan"),
        "unit": ("责任单位", "Responsible unit"), "targetDate": ("计划完成", "Target date"), "code": ("机构编码", "Code"),
        "count": ("数量", "Count"), "day": ("日期", "Day"), "medfee": ("医疗费用（元）", "Medical fees (yuan)"),
        "fund": ("基金支付（元）", "Fund paid (yuan)"), "settled": ("结算笔数", "Settlements"), "reversed": ("撤销笔数", "Reversals"),
        "alerts": ("实时监控预警", "Monitoring alerts"), "rule": ("规则", "Rule"), "evidence": ("依据", "Evidence"),
        "cases": ("案件", "Cases"), "status": ("状态", "Status"), "blocked": ("事前审核拦截", "Claims blocked by review"),
        "suspend": ("暂停定点", "Suspend designation"), "restore": ("恢复定点", "Restore designation"),
        "reverse": ("撤销结算", "Reverse a settlement"), "checkLedger": ("总账核对", "Check the ledger"),
        "verifyAudit": ("核验审计链", "Verify the audit chain"), "submit": ("执行", "Run"), "result": ("结果", "Result"),
        "setlID": ("结算ID", "Settlement ID"), "none": ("无", "None"), "denied": ("无权限", "Not permitted"),
        "lang": ("English", "中文"),
    ]

    static func all(_ lang: String) -> [String: String] {
        table.mapValues { lang == "en" ? $0.en : $0.zh }
    }
}

/// Server-rendered SVG charts: no script, no network at run time. Labels are escaped.
enum Charts {
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A line of shares (0...1) over labelled points, with a target line (a share, a label).
    static func line(_ points: [(label: String, value: Double)], target: (value: Double, label: String)?, title: String) -> String {
        let width = 720.0, height = 260.0, left = 48.0, bottom = 40.0, top = 20.0, right = 20.0
        let plotW = width - left - right, plotH = height - top - bottom
        func x(_ i: Int) -> Double { points.count < 2 ? left + plotW / 2 : left + plotW * Double(i) / Double(points.count - 1) }
        func y(_ v: Double) -> Double { top + plotH * (1 - max(0, min(1, v))) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"\(escape(title))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" class=\"chart\">"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            svg += "<line x1=\"\(left)\" y1=\"\(y(tick))\" x2=\"\(width - right)\" y2=\"\(y(tick))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\" font-size=\"11\">\(Int(tick * 100))%</text>"
        }
        if let target {
            svg += "<line x1=\"\(left)\" y1=\"\(y(target.value))\" x2=\"\(width - right)\" y2=\"\(y(target.value))\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>"
            svg += "<text x=\"\(width - right)\" y=\"\(y(target.value) - 6)\" text-anchor=\"end\" font-size=\"11\" fill=\"#c0392b\">\(escape(target.label))</text>"
        }
        let path = points.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(x($0.offset)),\(y($0.element.value))" }.joined(separator: " ")
        svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2.5\"/>"
        for (i, point) in points.enumerated() {
            svg += "<circle cx=\"\(x(i))\" cy=\"\(y(point.value))\" r=\"3.5\" fill=\"#1f6feb\"><title>\(escape(point.label)): \(String(format: "%.1f", point.value * 100))%</title></circle>"
            if points.count <= 12 || i % max(1, points.count / 8) == 0 {
                svg += "<text x=\"\(x(i))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\" font-size=\"10\">\(escape(point.label))</text>"
            }
        }
        return svg + "</svg>"
    }

    /// Bars of non-negative values over labels, the largest at full height.
    static func bars(_ points: [(label: String, value: Double)], title: String, unit: String) -> String {
        let width = 720.0, height = 240.0, left = 60.0, bottom = 40.0, top = 16.0, right = 16.0
        let plotW = width - left - right, plotH = height - top - bottom
        let most = max(points.map(\.value).max() ?? 0, 1)
        let slot = points.isEmpty ? plotW : plotW / Double(points.count)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"\(escape(title))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" class=\"chart\">"
        svg += "<line x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(width - right)\" y2=\"\(top + plotH)\" stroke=\"#999\"/>"
        svg += "<text x=\"\(left - 6)\" y=\"\(top + 10)\" text-anchor=\"end\" font-size=\"11\">\(escape(String(format: "%.0f", most)))</text>"
        for (i, point) in points.enumerated() {
            let h = plotH * point.value / most, x = left + slot * Double(i) + slot * 0.15
            svg += "<rect x=\"\(x)\" y=\"\(top + plotH - h)\" width=\"\(slot * 0.7)\" height=\"\(h)\" fill=\"#2da44e\"><title>\(escape(point.label)): \(escape(String(format: "%.2f", point.value))) \(escape(unit))</title></rect>"
            if points.count <= 16 || i % max(1, points.count / 8) == 0 {
                svg += "<text x=\"\(x + slot * 0.35)\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\" font-size=\"10\">\(escape(point.label))</text>"
            }
        }
        return svg + "</svg>"
    }
}

/// The pages' templates (Mustache: `{{x}}` is HTML-escaped, `{{{x}}}` only for the charts'
/// SVG and the rendered body, both built here).
enum Templates {
    static func library() throws -> MustacheLibrary {
        var library = MustacheLibrary()
        try library.register(layout, named: "layout")
        try library.register(login, named: "login")
        try library.register(overview, named: "overview")
        try library.register(ledger, named: "ledger")
        try library.register(settlements, named: "settlements")
        try library.register(supervision, named: "supervision")
        try library.register(actions, named: "actions")
        return library
    }

    static let layout = """
        <!DOCTYPE html>
        <html lang="{{lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{w.title}}</title>
        <style>
        body{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei","PingFang SC",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
        header{background:#0b3d91;color:#fff;padding:10px 24px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
        header a{color:#fff;text-decoration:none}header .who{margin-left:auto;font-size:13px}
        main{padding:16px 24px;max-width:1100px}section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;margin-bottom:16px}
        table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #eaeef2;padding:6px 8px;text-align:left}
        .bar{background:#eaeef2;height:10px;width:160px;display:inline-block;vertical-align:middle}.bar i{display:block;height:10px;background:#2da44e}
        .error{color:#b42318;font-weight:bold}.chart{width:100%;max-width:720px;height:auto}
        form.inline{display:inline}input,select,button{font-size:14px;padding:4px 6px;margin:2px}
        </style></head><body>
        <header><strong>{{w.title}}</strong>
        {{#user}}<a href="/?lang={{lang}}">{{w.overview}}</a><a href="/ledger">{{w.ledger}}</a><a href="/settlements">{{w.settlements}}</a>
        <a href="/supervision">{{w.supervision}}</a><a href="/actions">{{w.actions}}</a>{{/user}}
        <a href="?lang={{otherLang}}">{{w.lang}}</a>
        {{#user}}<span class="who">{{name}} · {{role}} · {{region}}
        <form class="inline" method="post" action="/logout"><input type="hidden" name="form_token" value="{{formToken}}"><button>{{w.logout}}</button></form></span>{{/user}}
        </header><main>{{#error}}<p class="error" id="error">{{error}}</p>{{/error}}{{{body}}}</main></body></html>
        """

    static let login = """
        <section><h2>{{w.login}}</h2>
        <form method="post" action="/login" id="login">
        <p><label>{{w.name}} <input name="name" autocomplete="username" required maxlength="64"></label></p>
        <p><label>{{w.password}} <input name="password" type="password" autocomplete="current-password" required maxlength="256"></label></p>
        <button type="submit">{{w.login}}</button></form></section>
        """

    static let overview = """
        <section id="coverage"><h2>{{w.overview}}: {{regionName}} ({{region}})</h2>
        <p>{{w.asOf}} {{asOf}}: {{w.villages}} {{villages}}, {{w.covered}} {{covered}} ({{share}}), {{w.clinics}} {{clinics}}, {{w.designated}} {{designatedClinics}}</p>
        {{#parent}}<p><a href="/?region={{parent}}">↑ {{parent}}</a></p>{{/parent}}
        <h3>{{w.children}}</h3><table><tr><th>{{w.region}}</th><th>{{w.villages}}</th><th>{{w.covered}}</th><th>{{w.share}}</th><th></th></tr>
        {{#children}}<tr><td>{{#drill}}<a href="/?region={{drill}}">{{name}}</a>{{/drill}}{{^drill}}{{name}}{{/drill}} <small>{{code}}</small></td><td>{{villages}}</td><td>{{covered}}</td><td>{{share}}</td>
        <td><span class="bar"><i style="width:{{percent}}%"></i></span></td></tr>{{/children}}
        </table>
        {{#hasGaps}}<h3>{{w.gaps}}</h3><ul id="gaps">{{#gaps}}<li>{{name}} <small>{{code}}</small></li>{{/gaps}}</ul>{{/hasGaps}}
        </section>
        <section id="progress"><h2>{{w.progress}}</h2>{{{progressChart}}}</section>
        """

    static let ledger = """
        <section id="ledger"><h2>{{w.ledger}}: {{region}}</h2>
        <table><tr><th>{{w.reason}}</th><th>{{w.count}}</th></tr>{{#counts}}<tr><td>{{reason}}</td><td>{{count}}</td></tr>{{/counts}}</table>
        <h3>{{w.clinics}} ({{clinics}})</h3>
        <table><tr><th>{{w.code}}</th><th>{{w.name}}</th><th>{{w.region}}</th><th>{{w.reason}}</th><th>{{w.plan}}</th><th>{{w.unit}}</th><th>{{w.targetDate}}</th></tr>
        {{#rows}}<tr><td>{{code}}</td><td>{{name}}</td><td>{{division}}</td><td>{{reason}}</td><td>{{plan}}</td><td>{{unit}}</td><td>{{targetDate}}</td></tr>{{/rows}}
        </table></section>
        """

    static let settlements = """
        <section id="settlements"><h2>{{w.settlements}}: {{region}}</h2>{{{fundChart}}}
        <table><tr><th>{{w.day}}</th><th>{{w.settled}}</th><th>{{w.reversed}}</th><th>{{w.medfee}}</th><th>{{w.fund}}</th></tr>
        {{#days}}<tr><td>{{day}}</td><td>{{settlements}}</td><td>{{reversed}}</td><td>{{medfee}}</td><td>{{fund}}</td></tr>{{/days}}</table></section>
        """

    static let supervision = """
        <section id="blocked"><h2>{{w.blocked}}: {{region}}</h2>{{{blockedChart}}}</section>
        <section id="alerts"><h2>{{w.alerts}}</h2><table><tr><th>#</th><th>{{w.rule}}</th><th>{{w.code}}</th><th>{{w.evidence}}</th></tr>
        {{#alerts}}<tr><td>{{id}}</td><td>{{rule}}</td><td>{{code}}</td><td>{{evidence}}</td></tr>{{/alerts}}{{^alerts}}<tr><td colspan="4">{{w.none}}</td></tr>{{/alerts}}</table></section>
        <section id="cases"><h2>{{w.cases}}</h2><table><tr><th>#</th><th>{{w.code}}</th><th>{{w.status}}</th><th>{{w.evidence}}</th></tr>
        {{#cases}}<tr><td>{{id}}</td><td>{{code}}</td><td>{{status}}</td><td>{{summary}}</td></tr>{{/cases}}{{^cases}}<tr><td colspan="4">{{w.none}}</td></tr>{{/cases}}</table></section>
        """

    static let actions = """
        {{#result}}<section id="result"><h2>{{w.result}}</h2><p>{{result}}</p></section>{{/result}}
        <section><h2>{{w.suspend}} / {{w.restore}}</h2>
        <form method="post" action="/actions/designation" id="designation"><input type="hidden" name="form_token" value="{{formToken}}">
        <input name="fixmedins_code" placeholder="H33080200101" required maxlength="12">
        <select name="action"><option value="suspend">{{w.suspend}}</option><option value="restore">{{w.restore}}</option></select>
        <input name="reason" placeholder="{{w.reason}}" required maxlength="200"><button>{{w.submit}}</button></form></section>
        <section><h2>{{w.reverse}}</h2>
        <form method="post" action="/actions/reverse" id="reverse"><input type="hidden" name="form_token" value="{{formToken}}">
        <input name="setl_id" placeholder="{{w.setlID}}" required maxlength="64"><input name="reason" placeholder="{{w.reason}}" required maxlength="200">
        <button>{{w.submit}}</button></form></section>
        <section><h2>{{w.checkLedger}} · {{w.verifyAudit}}</h2>
        <form class="inline" method="post" action="/actions/check-ledger" id="check-ledger"><input type="hidden" name="form_token" value="{{formToken}}"><button>{{w.checkLedger}}</button></form>
        <form class="inline" method="post" action="/actions/verify-audit" id="verify-audit"><input type="hidden" name="form_token" value="{{formToken}}"><button>{{w.verifyAudit}}</button></form>
        </section>
        """
}
