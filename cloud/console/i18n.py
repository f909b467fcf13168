"""The console's words in English and Chinese, and which of the two a request gets.

A dict catalogue rather than Babel/gettext: two languages and a few hundred short labels, where
gettext would add an extract → translate → compile step and binary .mo files for no gain; here a
label and its translation sit on one line, and tests/console/test_i18n.py checks that every key a
template or page uses exists in both languages. Chinese is Simplified (zh-CN), as the chains this
is for write it.

Language: the `shelfsync_lang` cookie when the person chose one (the switch in the header), else
the first of en/zh in the browser's Accept-Language (RFC 9110 §12.5.4, by q-value), else English.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

from aiohttp import web

from cloud.console import words_replenishment, words_reports

LANGS = ("en", "zh")
LANG_COOKIE = "shelfsync_lang"

# key: (English, 中文). Placeholders are str.format fields, the same in both.
_CORE: Mapping[str, tuple[str, str]] = {
    "app.name": ("shelfsync", "shelfsync"),
    "app.tagline": ("Chain stock console", "连锁库存控制台"),
    "lang.switch": ("中文", "English"),
    "lang.name": ("English", "中文"),
    "skip": ("Skip to content", "跳到正文"),
    # navigation
    "nav.overview": ("Overview", "总览"),
    "nav.stores": ("Stores", "门店"),
    "nav.products": ("Products", "商品"),
    "nav.channels": ("Channels", "渠道"),
    "nav.orders": ("Orders", "订单"),
    "nav.transfers": ("Transfers", "调拨"),
    "nav.setup": ("Setup", "设置"),
    "nav.audit": ("Audit", "审计"),
    "nav.menu": ("Menu", "菜单"),
    "coming.title": ("Coming soon", "即将推出"),
    "coming.body": ("This page is not built yet. The API already serves it: {api}.",
                    "此页面尚未完成。API 已提供：{api}。"),
    # sign-in
    "signin.title": ("Sign in", "登录"),
    "signin.intro": ("Sign in with an API token. Ask head office for one "
                     "(`shelfsync cloud token create`).",
                     "请使用 API 令牌登录。令牌由总部创建（`shelfsync cloud token create`）。"),
    "signin.token": ("API token", "API 令牌"),
    "signin.submit": ("Sign in", "登录"),
    "signin.wrong": ("That token is not valid.", "令牌无效。"),
    "signin.locked": ("Too many failed sign-ins from this address. Try again in {seconds} s.",
                      "此地址登录失败次数过多，请 {seconds} 秒后再试。"),
    "signin.expired": ("Your session ended. Please sign in again.", "会话已结束，请重新登录。"),
    "signin.out": ("You are signed out.", "您已退出登录。"),
    "signout": ("Sign out", "退出"),
    "role.hq": ("Head office", "总部"),
    "role.store": ("Store", "门店"),
    "role.finance": ("Finance", "财务"),
    "signed_in_as": ("Signed in as {name}", "当前用户 {name}"),
    # errors
    "error.title": ("Something went wrong", "出错了"),
    "error.403": ("You may not see or change this.", "您无权查看或修改此内容。"),
    "error.404": ("There is no such page.", "页面不存在。"),
    "error.csrf": ("This form was stale or not sent from the console. Reload the page and try again.",
                   "表单已过期或并非从控制台提交，请刷新页面后重试。"),
    "error.500": ("The console failed. The service log has the details.", "控制台出错，详情见服务日志。"),
    "error.413": ("The file is too large: at most 1 MiB. Split it and import the parts.",
                  "文件过大：最多 1 MiB。请拆分后分别导入。"),
    "error.back": ("Back to the overview", "返回总览"),
    # common words
    "live": ("Live", "实时"),
    "clock_at": ("As of {time}", "截至 {time}"),
    "live.lost": ("Reconnecting…", "正在重连…"),
    "search": ("Search", "搜索"),
    "filter": ("Filter", "筛选"),
    "all": ("All", "全部"),
    "none": ("None", "无"),
    "yes": ("Yes", "是"),
    "no": ("No", "否"),
    "never": ("never", "从未"),
    "unknown": ("unknown", "未知"),
    "store": ("Store", "门店"),
    "gateway": ("Gateway", "网关"),
    "product": ("Product", "商品"),
    "sku": ("GTIN", "商品条码"),
    "name": ("Name", "名称"),
    "category": ("Category", "品类"),
    "zone": ("Zone", "区域"),
    "zone.floor": ("Floor", "卖场"),
    "zone.backroom": ("Backroom", "后仓"),
    "zone.exit": ("Door", "出口"),
    "lot": ("Lot", "批次"),
    "expiry": ("Expiry", "到期日"),
    "qty": ("Qty", "数量"),
    "units": ("{n} units", "{n} 件"),
    "time": ("Time", "时间"),
    "source": ("Source", "来源"),
    "state": ("State", "状态"),
    "details": ("Details", "详情"),
    "show": ("Show", "显示"),
    "sort": ("Sort", "排序"),
    "ago.now": ("just now", "刚刚"),
    "ago.s": ("{n} s ago", "{n} 秒前"),
    "ago.min": ("{n} min ago", "{n} 分钟前"),
    "ago.h": ("{n} h ago", "{n} 小时前"),
    "ago.d": ("{n} d ago", "{n} 天前"),
    "dur.s": ("{n} s", "{n} 秒"),
    "dur.min": ("{n} min", "{n} 分钟"),
    "dur.h": ("{n} h", "{n} 小时"),
    "dur.d": ("{n} d", "{n} 天"),
    # gateway states and devices
    "gw.online": ("Online", "在线"),
    "gw.offline": ("Offline", "离线"),
    "gw.unknown": ("No status", "无状态"),
    "gw.none": ("No gateway", "无网关"),
    "gw.last_seen": ("Last seen", "最后在线"),
    "gw.outbox": ("Outbox", "待发队列"),
    "gw.outbox_value": ("{n} waiting", "{n} 条待发"),
    "gw.outbox_oldest": ("oldest {age}", "最早 {age}"),
    "gw.outbox_empty": ("empty", "已清空"),
    "gw.devices": ("Devices", "设备"),
    "gw.version": ("Version", "版本"),
    "dev.reader": ("Readers", "读写器"),
    "dev.scale-bus": ("Scales", "称重"),
    "dev.camera": ("Cameras", "摄像头"),
    "dev.up": ("{up} up", "{up} 正常"),
    "dev.none": ("none", "无"),
    "dev.down": ("{n} down", "{n} 故障"),
    "dev.last_known": ("As last reported: the gateway is offline", "网关离线，显示最后上报状态"),
    "stock.filter": ("Filter products", "筛选商品"),
    "stock.shown": ("{n} of {total} products", "{total} 种商品中的 {n} 种"),
    # overview
    "overview.title": ("Chain overview", "连锁总览"),
    "overview.stores_online": ("Gateways online", "在线网关"),
    "overview.sold_today": ("Sold today", "今日销量"),
    "overview.shrink_today": ("Shrink today", "今日损耗"),
    "overview.open_alerts": ("Open alerts", "未处理警报"),
    "overview.empty_bins": ("Empty bins", "空货位"),
    "overview.stock_value": ("Stock value", "库存金额"),
    "overview.filter_text": ("Store or name", "门店编号或名称"),
    "overview.state_all": ("All stores", "全部门店"),
    "overview.state_offline": ("Offline", "离线"),
    "overview.state_attention": ("Needs attention", "需要处理"),
    "overview.no_stores": ("No store has reported yet. Start a gateway, or register stores in Setup.",
                           "尚无门店上报。请启动网关，或在设置中登记门店。"),
    "overview.shown": ("{n} of {total} stores", "{total} 家门店中的 {n} 家"),
    "overview.sales_by_store": ("Units sold today by store", "今日各门店销量"),
    "col.store": ("Store", "门店"),
    "col.gateway": ("Gateway", "网关"),
    "col.last_seen": ("Last seen", "最后在线"),
    "col.outbox": ("Outbox", "待发"),
    "col.devices": ("Devices", "设备"),
    "col.alerts": ("Alerts", "警报"),
    "col.sold": ("Sold today", "今日售出"),
    "col.shrink": ("Shrink today", "今日损耗"),
    "col.empty": ("Empty bins", "空货位"),
    # stores
    "stores.title": ("Stores", "门店"),
    "stores.on_hand": ("On hand", "在库"),
    "stores.values_at": ("Units and value as of {time}", "在库与货值截至 {time}"),
    "stores.gateways": ("Gateways", "网关"),
    # store page
    "store.title": ("Store {store}", "门店 {store}"),
    "store.shelves": ("Shelf map", "货架图"),
    "store.shelves_none": ("No shelf snapshot yet: the gateway has no scales or cameras, or has not "
                           "reported them.", "尚无货架快照：网关未接称重或摄像头，或尚未上报。"),
    "store.shelves_at": ("Snapshot {age}", "快照 {age}"),
    "store.stock": ("Stock by zone", "分区库存"),
    "store.stock_none": ("No stock booked in this store yet.", "本店尚无库存记录。"),
    "store.movements": ("Movements", "库存变动"),
    "store.movements_none": ("No movements yet.", "尚无变动。"),
    "store.alerts": ("Alerts", "警报"),
    "store.alerts_none": ("No alerts from this store.", "本店没有警报。"),
    "store.stocktakes": ("Stocktakes", "盘点"),
    "store.stocktakes_none": ("No stocktake yet.", "尚无盘点。"),
    "store.gateways": ("Gateways", "网关"),
    "bin": ("Bin", "货位"),
    "bin.count": ("Count", "数量"),
    "bin.grams": ("Weight", "重量"),
    "bin.refill_at": ("Refill at", "补货线"),
    "bin.level": ("Refill level", "补货水位"),
    "bin.ok": ("OK", "正常"),
    "bin.low": ("Low", "偏低"),
    "bin.empty": ("Empty", "已空"),
    "bin.unavailable": ("Sensor down", "传感器故障"),
    "bin.uncounted": ("Not counted yet", "尚未计数"),
    "source.weight": ("Scale", "称重"),
    "source.vision": ("Camera", "摄像头"),
    "source.rfid": ("RFID", "RFID"),
    "source.pos": ("Till", "收银"),
    "source.manual": ("Staff", "人工"),
    "source.fusion": ("Combined", "融合"),
    "stock.floor": ("Floor", "卖场"),
    "stock.backroom": ("Backroom", "后仓"),
    "stock.on_hand": ("On hand", "在库"),
    "stock.reserved": ("Reserved", "已预留"),
    "stock.available": ("Available", "可售"),
    "stock.unit_cost": ("Unit cost", "单位成本"),
    "stock.value": ("Value", "金额"),
    "stock.lots": ("Lots", "批次"),
    "kind.sale": ("Sale", "销售"),
    "kind.return": ("Return", "退货"),
    "kind.receipt": ("Receipt", "收货"),
    "kind.shrink": ("Shrink", "损耗"),
    "kind.move": ("Move", "移库"),
    "kind.count": ("Count", "盘点"),
    "kind.adjust": ("Adjust", "调整"),
    "kind.transfer_out": ("Transfer out", "调出"),
    "kind.transfer_in": ("Transfer in", "调入"),
    "mv.confidence": ("Confidence", "置信度"),
    "mv.evidence": ("Evidence", "证据"),
    "mv.ref": ("Reference", "单号"),
    "ev.epc": ("Tag (EPC)", "标签 (EPC)"),
    "ev.door": ("Door read", "出口读取"),
    "ev.weight": ("Weight event", "重量事件"),
    "alert.status.open": ("Open", "待处理"),
    "alert.status.acked": ("Acknowledged", "已确认"),
    "alert.status.resolved": ("Resolved", "已解决"),
    "alert.urgent": ("Urgent", "紧急"),
    "alert.raised": ("Raised", "发出"),
    "alert.history": ("History", "经过"),
    "alert.aisle": ("Aisle {aisle}", "通道 {aisle}"),
    "st.start": ("Start a stocktake", "开始盘点"),
    "st.seconds": ("Seconds at most", "最长秒数"),
    "st.zone_all": ("Every zone", "全部区域"),
    "st.started": ("Stocktake {id} sent to {gateway}.", "盘点 {id} 已发送至 {gateway}。"),
    "st.state.requested": ("Counting", "盘点中"),
    "st.state.done": ("Done", "已完成"),
    "st.state.failed": ("Failed", "失败"),
    "st.requested_by": ("Asked by", "发起人"),
    "st.report": ("Report", "报告"),
    "st.unique_tags": ("Tags", "标签数"),
    "st.reads": ("Reads", "读取次数"),
    "st.duration": ("Duration", "用时"),
    "st.sold_during": ("Sold during the count", "盘点期间售出"),
    "st.counted": ("Counted", "实盘"),
    "st.expected": ("Book", "账面"),
    "st.difference": ("Difference", "差异"),
    "st.cannot": ("Only head office or this store's staff can start a stocktake.",
                  "仅总部或本店人员可以发起盘点。"),
    "st.no_gateway": ("This store has no gateway the cloud has heard from.", "本店尚无已上报的网关。"),
    "st.wait": ("The report shows here when the gateway sends it.", "网关发回报告后将显示在此处。"),
    # products
    "products.title": ("Products", "商品"),
    "products.filter_text": ("GTIN, name or category", "条码、名称或品类"),
    "products.none": ("No product matches.", "没有匹配的商品。"),
    "products.stores": ("Stores", "门店数"),
    "product.title": ("Product {sku}", "商品 {sku}"),
    "product.stock": ("Stock by store, zone and lot", "各门店分区批次库存"),
    "product.channels": ("What each channel may sell", "各渠道可售数量"),
    "product.channels_none": ("No sales channel is set up.", "尚未设置销售渠道。"),
    "product.listings": ("Platform listings", "平台商品"),
    "product.listings_none": ("This product is not listed on any platform.", "此商品未在任何平台上架。"),
    "product.channel": ("Channel", "渠道"),
    "product.platform": ("Platform", "平台"),
    "product.may_sell": ("May sell", "可售"),
    "product.listing": ("Listing", "平台编号"),
    "product.last_push": ("Last push", "最近推送"),
    "product.figure": ("Figure", "推送数量"),
    "product.result": ("Result", "结果"),
    "product.error": ("Error", "错误"),
    "product.push_now": ("Push now", "立即推送"),
    "product.pushed": ("A push of {channel} / {listing} was asked for.",
                       "已请求推送 {channel} / {listing}。"),
    "product.no_sync": ("No worker drives platform sync (the cloud runs without --channels).",
                        "没有进程负责平台同步（云服务未配置 --channels）。"),
    "product.days_left": ("{n} d left", "剩 {n} 天"),
    "product.expired": ("Expired", "已过期"),
    "product.expiring": ("Expiring", "临期"),
    "product.unknown": ("Not in the catalogue", "未录入商品目录"),
    "product.chart": ("On hand by store", "各门店在库"),
    "push.ok": ("OK", "成功"),
    "push.failed": ("Failed", "失败"),
    "push.rejected": ("Rejected", "被拒绝"),
    "push.never": ("Never pushed", "从未推送"),
    # channels and platforms
    "ch.title": ("Channels and platforms", "渠道与平台"),
    "ch.channels": ("Channels", "渠道"),
    "ch.listings": ("Listings", "平台商品"),
    "ch.state.in_sync": ("In sync", "已同步"),
    "ch.state.pending": ("Pending", "待同步"),
    "ch.state.failed": ("Failed", "失败"),
    "ch.pushes_hour": ("Pushes, last hour", "近 1 小时推送"),
    "ch.drift_day": ("Drift repairs, 24 h", "近 24 小时偏差修复"),
    "ch.windows": ("Push rate over the last hour, drift repairs over 24 h",
                   "推送速率按近 1 小时计，偏差修复按近 24 小时计"),
    "ch.last_success": ("Last success", "最近成功"),
    "ch.rate": ("Pushes/min", "推送/分钟"),
    "ch.rate_detail": ("{n} in 1 h, {failed} failed", "1 小时 {n} 次，失败 {failed} 次"),
    "ch.drift": ("Drift repairs", "偏差修复"),
    "ch.stores_n": ("{n} stores", "{n} 家门店"),
    "ch.no_credentials": ("No credentials on this service", "本服务未配置凭据"),
    "ch.not_pushed": ("No platform API: nothing is pushed", "无平台接口：不推送"),
    "ch.failed_title": ("Failed pushes", "推送失败"),
    "ch.failed_none": ("No listing's last push failed.", "没有推送失败的平台商品。"),
    "ch.attempts": ("{n} tries", "尝试 {n} 次"),
    "ch.retry": ("Retry", "重试"),
    "ch.retried": ("{channel} / {listing} is being pushed again.", "{channel} / {listing} 正在重新推送。"),
    "ch.chart": ("Listings by state", "各渠道同步状态"),
    "ch.driver_off": ("Platform sync does not run on this service (started without --channels): nothing is "
                      "pushed.", "本服务未运行平台同步（启动时未指定 --channels）：不会推送。"),
    "ch.driver_here": ("Platform sync runs here", "平台同步在本进程运行"),
    "ch.driver_channels": ("Channels: {names}", "渠道：{names}"),
    "ch.driver_elsewhere": ("Platform sync is driven by another worker; these figures come from its push "
                            "records.", "平台同步由另一进程负责；以下数据来自其推送记录。"),
    "ch.h.pending": ("Listings pending", "待同步商品"),
    "ch.h.pushes": ("Pushes that succeeded", "成功推送"),
    "ch.h.failures": ("Pushes failed after every try", "重试后仍失败"),
    "ch.h.rejected": ("Pushes the platform refused", "被平台拒绝"),
    "ch.h.retries": ("Retries", "重试次数"),
    "ch.h.replays": ("Answered as already done", "平台确认已执行"),
    "ch.h.stale": ("Figures changed on the platform", "平台数量已变"),
    "ch.h.drift_repaired": ("Drift repaired", "已修复偏差"),
    "ch.h.reconciliations": ("Reconciliations", "对账次数"),
    "ch.figures": ("Pushes", "推送"),
    "ch.rules": ("Safety stock {safety} · shows {share} % · at least {min} · at most {max}",
                 "安全库存 {safety} · 展示 {share}% · 最少 {min} · 最多 {max}"),
    "ch.hold": ("holds an order {time}", "订单保留 {time}"),
    "ch.split": ("splits orders", "可拆单"),
    "ch.stores": ("Stores that fill it", "供货门店"),
    "ch.ships": ("Ships", "发货"),
    "ch.pickup": ("Pickup", "自提"),
    "ch.no_stores": ("No store fills this channel.", "没有门店为此渠道供货。"),
    "ch.listings_none": ("No listing in this state.", "没有此状态的平台商品。"),
    "ch.reason.event": ("stock change", "库存变动"),
    "ch.reason.reconcile": ("drift repair", "偏差修复"),
    "ch.reason.retry": ("retry", "重试"),
    "ch.reason.manual": ("asked in the console", "控制台手动"),
    "platform.taobao": ("Taobao", "淘宝"),
    "platform.jd": ("JD", "京东"),
    "platform.pdd": ("Pinduoduo", "拼多多"),
    "platform.douyin": ("Douyin", "抖音"),
    "platform.shopify": ("Shopify", "Shopify"),
    "platform.wechat": ("WeChat mini-program", "微信小程序"),
    "platform.pos": ("Shop tills only", "仅门店收银"),
    "platform.none": ("No platform", "无平台"),
    # orders
    "orders.title": ("Orders", "订单"),
    "orders.filter_text": ("Order number", "订单号"),
    "orders.all_channels": ("All channels", "全部渠道"),
    "orders.all_stores": ("All stores", "全部门店"),
    "orders.all_states": ("All states", "全部状态"),
    "orders.state.reserved": ("Held", "已预留"),
    "orders.state.fulfilled": ("Fulfilled", "已履约"),
    "orders.state.cancelled": ("Cancelled", "已取消"),
    "orders.state.expired": ("Lapsed unpaid", "超时未付"),
    "orders.open": ("Open orders", "未完成订单"),
    "orders.units_held": ("Units held", "预留件数"),
    "orders.lapsing": ("Lapsing soon", "即将超时"),
    "orders.lapsing_within": ("Held orders whose hold ends within {n} min", "{n} 分钟内保留到期的订单"),
    "orders.list": ("Orders", "订单列表"),
    "orders.shown": ("{n} orders", "共 {n} 单"),
    "orders.order": ("Order", "订单"),
    "orders.holds": ("Held units", "预留"),
    "orders.created": ("Placed", "下单时间"),
    "orders.hold_until": ("Hold", "保留"),
    "orders.left": ("{time} left", "剩 {time}"),
    "orders.due": ("Lapsing now", "即将超时"),
    "orders.closed": ("Closed {time}", "{time} 关闭"),
    "orders.ful.ship": ("Delivery", "配送"),
    "orders.ful.pickup": ("Pickup", "自提"),
    "orders.by.api": ("in the console or API", "经控制台或 API"),
    "orders.by.pos": ("at the till", "门店收银"),
    "orders.by.lot-expired": ("a held lot expired", "预留批次过期"),
    "orders.by.stock-short": ("the store ran short", "门店库存不足"),
    "orders.fulfil": ("Fulfil", "履约"),
    "orders.cancel": ("Cancel", "取消"),
    "orders.confirm_fulfil": ("Book order {order} as sold?", "确认订单 {order} 已售出？"),
    "orders.confirm_cancel": ("Cancel order {order} and free its units?", "取消订单 {order} 并释放预留？"),
    "orders.done.fulfil": ("Order {order} fulfilled: its units are booked as sold.",
                           "订单 {order} 已履约，已记为售出。"),
    "orders.done.cancel": ("Order {order} cancelled: its units are free again.",
                           "订单 {order} 已取消，预留已释放。"),
    "orders.none": ("No order matches.", "没有匹配的订单。"),
    "page.nav": ("Pages", "分页"),
    "page.prev": ("Previous", "上一页"),
    "page.next": ("Next", "下一页"),
    "page.of": ("Page {n} of {pages}", "第 {n} / {pages} 页"),
    # transfers
    "tr.title": ("Transfers", "调拨"),
    "tr.suggestions": ("Suggested transfers", "建议调拨"),
    "tr.suggestions_why": ("Short stores, from the nearest with surplus", "从最近的富余门店补给缺货门店"),
    "tr.suggestions_none": ("No store is short of what another has spare.", "暂无可调拨补给的缺货。"),
    "tr.suggestions_shown": ("The {n} for the emptiest stores, of {total}",
                             "共 {total} 条，显示最缺货的 {n} 条"),
    "tr.suggestions_at": ("as of {time}", "截至 {time}"),
    "tr.suggestions_reading": ("Reading the suggestions again…", "正在重新计算建议…"),
    "tr.for_store": ("Short store", "缺货门店"),
    "tr.for_every_store": ("For every short store", "全部缺货门店"),
    "tr.for": ("For {store}", "补给 {store}"),
    "tr.from": ("From", "调出门店"),
    "tr.to": ("To", "调入门店"),
    "tr.distance": ("Distance", "距离"),
    "tr.km": ("{n} km", "{n} 公里"),
    "tr.cost": ("cost ≈ {cost}", "费用约 {cost}"),
    "tr.free": ("{n} free", "可用 {n}"),
    "tr.create": ("Create", "创建"),
    "tr.new": ("New transfer", "新建调拨"),
    "tr.send": ("Send", "调出"),
    "tr.in_transit": ("In transit", "在途"),
    "tr.transit_none": ("Nothing in transit.", "没有在途调拨。"),
    "tr.transit_more": ("{n} older ones in transit: see all transfers",
                        "另有 {n} 条较早的在途调拨：见调拨记录"),
    "tr.receive": ("Receive", "收货"),
    "tr.cancel": ("Cancel", "取消"),
    "tr.confirm_cancel": ("Cancel transfer {id}? Its units go back to the source.",
                          "取消调拨 {id}？货品将退回调出门店。"),
    "tr.history": ("All transfers", "调拨记录"),
    "tr.history_none": ("No transfer yet.", "尚无调拨。"),
    "tr.state.in_transit": ("In transit", "在途"),
    "tr.state.received": ("Received", "已收货"),
    "tr.state.cancelled": ("Cancelled", "已取消"),
    "tr.received_at": ("Received {time}", "{time} 收货"),
    "tr.cancelled_at": ("Cancelled {time}", "{time} 取消"),
    "tr.by.api": ("booked in the console or API", "经控制台或 API 登记"),
    "tr.by.rfid": ("read at the dock (RFID)", "收货口 RFID 读取"),
    "tr.created": ("Transfer {id}: {qty} × {sku} from {src} to {dst}, in transit.",
                   "调拨 {id}：{qty} × {sku} 从 {src} 调往 {dst}，在途。"),
    "tr.done.receive": ("Transfer {id} received: its units are in the destination's backroom.",
                        "调拨 {id} 已收货，货品已入调入门店后仓。"),
    "tr.done.cancel": ("Transfer {id} cancelled: its units are back at the source.",
                       "调拨 {id} 已取消，货品已退回调出门店。"),
    "tr.bad_store": ("{field}: “{value}” is not a store id.", "{field}：“{value}” 不是门店编号。"),
    "tr.same_store": ("From and To are the same store.", "调出与调入门店相同。"),
    "tr.bad_sku": ("GTIN: “{value}” is not a GTIN-14 (14 digits, valid check digit).",
                   "商品条码：“{value}” 不是有效的 14 位 GTIN。"),
    "tr.bad_qty": ("Qty: a whole number from 1 to {max}.", "数量：须为 1 至 {max} 的整数。"),
    "tr.unknown_store": ("The chain has no store “{store}” (register it in Setup).",
                         "连锁中没有门店“{store}”（请在设置中登记）。"),
    "tr.short": ("{store} has not {wanted} free units of {sku} (it has {available}).",
                 "{store} 没有 {wanted} 件 {sku} 可调出（可用 {available}）。"),
    # setup (head office) and the audit
    "setup.title": ("Setup", "设置"),
    "setup.intro": ("Every change here is kept in the audit log.", "此处的每项修改都会记入审计日志。"),
    "setup.tab.stores": ("Stores", "门店"),
    "setup.tab.products": ("Products", "商品"),
    "setup.tab.channels": ("Channels", "渠道"),
    "setup.tab.listings": ("Listings", "平台商品"),
    "setup.tab.shelves": ("Refill thresholds", "补货线"),
    "setup.saved": ("Saved.", "已保存。"),
    "setup.unchanged": ("Nothing changed: the values were already so.", "未修改：数值与原来相同。"),
    "setup.imported": ("Imported {n} rows.", "已导入 {n} 行。"),
    "setup.csv_row": ("Row {row}", "第 {row} 行"),
    "setup.csv_field": ("field {field}", "字段 {field}"),
    "setup.csv_file": ("The file", "文件"),
    "setup.csv_nothing": ("Nothing was imported: correct the file and import it again.",
                          "未导入任何内容：请修改文件后重新导入。"),
    "setup.no_file": ("Choose a CSV file first.", "请先选择 CSV 文件。"),
    "setup.lat": ("Latitude", "纬度"),
    "setup.lon": ("Longitude", "经度"),
    "setup.edit": ("Edit", "编辑"),
    "setup.save": ("Save", "保存"),
    "setup.stores_none": ("No store is registered yet.", "尚未登记门店。"),
    "setup.store_form": ("Add or change a store", "新增或修改门店"),
    "setup.store_hint": ("The store id is the gateway's [store] id: lower-case letters, digits and dashes. "
                         "The location places the store for pickup and transfers.",
                         "门店编号即网关配置 [store] 中的 id：小写字母、数字和连字符。"
                         "坐标用于自提和调拨距离。"),
    "setup.csv_title": ("Import and export (CSV)", "导入与导出（CSV）"),
    "setup.csv_file_pick": ("CSV file", "CSV 文件"),
    "setup.import": ("Import", "导入"),
    "setup.export_csv": ("Export CSV", "导出 CSV"),
    "setup.csv_products_hint": ("Columns: sku, name, category, unit_cost, min_stock (a header row first). "
                                "UTF-8, as Excel's \"CSV UTF-8\" saves it. A file with a bad row imports "
                                "nothing and names the row and field.",
                                "列：sku、name、category、unit_cost、min_stock（首行为表头）。"
                                "UTF-8 编码，即 Excel 的“CSV UTF-8”格式。"
                                "文件中有一行出错则全部不导入，并指出行号和字段。"),
    "setup.csv_listings_hint": ("Columns: channel_sku, item_id, sku (a header row first), for the channel "
                                "chosen above. A file with a bad row imports nothing.",
                                "列：channel_sku、item_id、sku（首行为表头），导入到上方所选渠道。文件中有一行出错则全部不导入。"),
    "setup.shown": ("{n} of {total}", "共 {total} 个，显示 {n} 个"),
    "setup.min_stock": ("Minimum stock", "最低库存"),
    "setup.product_form": ("Add or change a product", "新增或修改商品"),
    "setup.product_hint": ("The GTIN as printed (EAN-13, UPC-A, EAN-8) or as GTIN-14. Below its minimum "
                           "stock a store is short (transfer suggestions).",
                           "条码可按包装印刷填写（EAN-13、UPC-A、EAN-8）或 GTIN-14。"
                           "门店库存低于最低库存即为缺货（调拨建议）。"),
    "setup.rules": ("Rules", "规则"),
    "setup.rules_line": ("safety {safety} · {share} % · min {min} · max {max}",
                         "安全库存 {safety} · {share}% · 最少 {min} · 最多 {max}"),
    "setup.hold_line": ("an unpaid order is held {s} s", "未付款订单保留 {s} 秒"),
    "setup.split": ("split", "可拆单"),
    "setup.split_long": ("An order may be filled by several stores", "订单可由多家门店拆单发货"),
    "setup.stores_ship_pickup": ("Stores: ship / pickup", "门店：发货 / 自提"),
    "setup.ship": ("Ship", "发货"),
    "setup.pickup": ("Pickup", "自提"),
    "setup.export": ("Spreadsheet", "表格"),
    "setup.export_every": ("written every {n} min", "每 {n} 分钟写出"),
    "setup.export_last": ("last {time}", "上次 {time}"),
    "setup.export_ok": ("{n} rows", "{n} 行"),
    "setup.export_running": ("writing", "写出中"),
    "setup.export_never": ("not written yet", "尚未写出"),
    "setup.export_no_dir": ("This service has no export directory (shelfsync cloud --export-dir): "
                            "scheduled files are not written, downloads work.",
                            "本服务未设置导出目录（shelfsync cloud --export-dir）："
                            "不会按计划写出文件，可直接下载。"),
    "setup.channel_form": ("Add or change a channel", "新增或修改渠道"),
    "setup.safety": ("Safety stock per store", "每店安全库存"),
    "setup.share_pct": ("Share shown, %", "展示比例 %"),
    "setup.min_qty": ("At least", "最少"),
    "setup.max_qty": ("At most", "最多"),
    "setup.hold_s": ("Hold an unpaid order, s", "未付款保留（秒）"),
    "setup.every_min": ("Spreadsheet every (min)", "表格写出间隔（分钟）"),
    "setup.channel_hint": ("A channel without a platform API gets its figures as a spreadsheet, by the same "
                           "rules as the platforms' pushes: download it above, or have it written every so "
                           "many minutes.",
                           "没有平台接口的渠道以表格获取可售数量，规则与平台推送相同：可在上方下载，或设置定时写出。"),
    "setup.item_id": ("Item id", "商品 ID"),
    "setup.listings_none": ("This channel has no listing yet.", "此渠道尚无平台商品。"),
    "setup.listing_form": ("Add or change a listing", "新增或修改平台商品"),
    "setup.listings_no_channel": ("Add a channel first (Channels tab).", "请先在“渠道”中新增渠道。"),
    "shelves.intro": ("Refill thresholds and product names that staff alerts use, per bin or per product; "
                      "they override the gateway's TOML and reach it over the command channel.",
                      "员工提醒使用的补货线和商品名称，可按货位或按商品设置；"
                      "优先于网关 TOML 配置，经指令通道下发。"),
    "shelves.version": ("Settings version {v}", "设置版本 {v}"),
    "shelves.nothing_set": ("TOML only", "仅 TOML"),
    "shelves.no_report": ("Not reported", "未上报"),
    "shelves.pending": ("Waiting for the gateway", "等待网关"),
    "shelves.applied": ("Applied", "已生效"),
    "shelves.runs": ("runs version {v}", "运行版本 {v}"),
    "shelves.sent_v": ("sent version {v}", "已发送版本 {v}"),
    "shelves.sent": ("Saved and sent to {n} gateway(s); a gateway that is offline gets it when it is back.",
                     "已保存并发送至 {n} 个网关；离线的网关恢复连接后会收到。"),
    "shelves.bins": ("Bins", "货位"),
    "shelves.in_force": ("Refill at, in force", "当前补货线"),
    "shelves.console": ("Set here", "此处设置"),
    "shelves.refill_at_n": ("refill at {n}", "补货线 {n}"),
    "shelves.toml": ("gateway's TOML", "网关 TOML"),
    "shelves.no_bins": ("No bin reported yet: the gateway's shelves snapshot lists them.",
                        "尚无货位：网关上报货架快照后显示。"),
    "shelves.products": ("By product", "按商品"),
    "shelves.form": ("Set a bin or a product", "设置货位或商品"),
    "shelves.kind": ("For", "对象"),
    "shelves.kind.bin": ("A bin", "货位"),
    "shelves.kind.sku": ("A product (every bin)", "商品（所有货位）"),
    "shelves.key": ("Bin id or GTIN", "货位编号或条码"),
    "shelves.product": ("Product name in alerts", "提醒中的商品名称"),
    "shelves.hint": ("Leave a field empty to keep the gateway's own value; both empty removes the setting. "
                     "A bin's setting comes before its product's.",
                     "留空则沿用网关自身的值；两项都留空即删除此设置。货位设置优先于商品设置。"),
    "shelves.save": ("Save and send", "保存并下发"),
    "audit.title": ("Audit log", "审计日志"),
    "audit.intro": ("Every change of the chain's settings: who, when, what, before → after.",
                    "连锁设置的每次修改：谁、何时、改了什么、修改前 → 修改后。"),
    "audit.who": ("Who", "操作人"),
    "audit.action": ("Action", "操作"),
    "audit.target": ("What", "对象"),
    "audit.from": ("From", "起始日期"),
    "audit.to": ("To", "截止日期"),
    "audit.change": ("Before → after", "修改前 → 修改后"),
    "audit.new": ("New", "新增"),
    "audit.removed": ("Removed", "删除"),
    "audit.older": ("Older", "更早"),
    "audit.none": ("No change matches.", "没有匹配的修改记录。"),
    "audit.action.store.put": ("Store changed", "修改门店"),
    "audit.action.product.put": ("Product changed", "修改商品"),
    "audit.action.product.import": ("Product imported", "导入商品"),
    "audit.action.channel.put": ("Channel changed", "修改渠道"),
    "audit.action.listing.put": ("Listing changed", "修改平台商品"),
    "audit.action.listing.import": ("Listing imported", "导入平台商品"),
    "audit.action.shelf.put": ("Refill setting changed", "修改补货设置"),
    "audit.action.export.put": ("Spreadsheet schedule changed", "修改表格计划"),
}

# Each newer section keeps its words in a module of its own (words_<section>.py), so that the
# sections can grow side by side; a key may be defined once only (test_i18n checks).
MESSAGES: Mapping[str, tuple[str, str]] = {**_CORE, **words_reports.WORDS, **words_replenishment.WORDS}


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language a request gets: a chosen one (cookie), else the browser's best of ours."""
    if cookie is not None and cookie in LANGS:
        return cookie
    best, best_q = "en", -1.0
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        # earlier entries win ties (the order the browser gave)
        if primary in LANGS and q > 0 and q - i * 1e-6 > best_q:
            best, best_q = primary, q - i * 1e-6
    return best


def request_lang(request: web.Request) -> str:
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


class Words:
    """The catalogue in one language, callable from templates: t("key", n=3)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGS else "en"
        self._i = LANGS.index(self.lang)

    def __call__(self, key: str, **fields: object) -> str:
        pair = MESSAGES.get(key)
        if pair is None:
            return key  # a missing key shows itself; the catalogue test catches it first
        return pair[self._i].format(**fields) if fields else pair[self._i]

    def has(self, key: str) -> bool:
        return key in MESSAGES

    def named(self, prefix: str, value: object) -> str:
        """The word for a value the data carries (a zone, a platform, a reason) under `prefix`:
        t.named("zone", "floor") is t("zone.floor"); a value the catalogue does not name shows
        itself, as it came."""
        key = f"{prefix}.{value}"
        return self(key) if key in MESSAGES else str(value)

    def ago(self, moment: datetime | None, now: datetime) -> str:
        """'3 min ago' for a past moment, 'never' for None."""
        if moment is None:
            return self("never")
        seconds = (now - moment).total_seconds()
        if seconds < 5:
            return self("ago.now")
        return self._span(seconds, "ago")

    def duration(self, seconds: float) -> str:
        return self._span(seconds, "dur")

    def _span(self, seconds: float, prefix: str) -> str:
        seconds = max(0.0, seconds)
        if seconds < 120:
            return self(f"{prefix}.s", n=int(seconds))
        if seconds < 2 * 3600:
            return self(f"{prefix}.min", n=int(seconds // 60))
        if seconds < 2 * 86400:
            return self(f"{prefix}.h", n=int(seconds // 3600))
        return self(f"{prefix}.d", n=int(seconds // 86400))

    def clock(self, moment: datetime | None, tz: tzinfo, now: datetime | None = None) -> str:
        """A local time, as short as `now` allows: HH:MM:SS today, MM-DD HH:MM this year, else the
        full date."""
        if moment is None:
            return "—"
        local = moment.astimezone(tz)
        today = now.astimezone(tz).date() if now is not None else None
        if local.date() == today:
            return local.strftime("%H:%M:%S")
        if today is not None and local.year == today.year:
            return local.strftime("%m-%d %H:%M")
        return local.strftime("%Y-%m-%d %H:%M")

    def stale(self, moment: datetime | None, now: datetime, after: timedelta) -> bool:
        return moment is None or now - moment > after


__all__ = ["LANGS", "LANG_COOKIE", "MESSAGES", "Words", "negotiate", "request_lang"]
