using System.Security.Claims;
using System.Text.Json.Nodes;

namespace Backstop.Infrastructure.Audit;

internal static class AuditExtensions
{
    public static IServiceCollection AddAudit(this IServiceCollection services)
    {
        services.AddHttpContextAccessor();
        services.AddSingleton<IAuditLog, AuditLog>();
        return services;
    }
}
