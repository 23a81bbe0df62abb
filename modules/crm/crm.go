// Package crm keeps customers and their orders. Recording an order is what
// triggers the order-success email: the CRM order model's GORM AfterCreate
// hook queues it inside the same transaction, so no email exists for a record
// that rolled back and none is lost once the record committed.
package crm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/shopbus/shopbus/bus"
	"github.com/shopbus/shopbus/fault"
	"github.com/shopbus/shopbus/modules/email"
)

// ErrNotFound means no such customer or order.
var ErrNotFound = fault.New(fault.NotFound, "crm: not found")

// Mailer queues an email inside the caller's transaction; email.Service is
// one. CRM gives it data of CRM's own types: what binds them to the
// template is their JSON.
type Mailer interface {
	Enqueue(tx *gorm.DB, m email.Message) error
}

// Service is the CRM module.
type Service struct {
	db     *gorm.DB
	mailer Mailer
}

// New returns the CRM module; mailer receives the order-success emails.
func New(db *gorm.DB, mailer Mailer) *Service { return &Service{db: db, mailer: mailer} }

// Subscribe makes CRM the "crm" target of the bus.
func (s *Service) Subscribe(b *bus.Bus) { bus.Subscribe(b, "crm", s.handle) }

// Customer is one buyer, known by email.
type Customer struct {
	ID        int64     `json:"id" gorm:"primaryKey;autoIncrement"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Orders    int64     `json:"orders"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// TableName names CRM's customer table.
func (Customer) TableName() string { return "crm_customers" }

// Customer returns a customer by email.
func (s *Service) Customer(ctx context.Context, email string) (Customer, error) {
	var c Customer
	if err := s.db.WithContext(ctx).Where("email = ?", email).Take(&c).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return Customer{}, fmt.Errorf("%w: customer %s", ErrNotFound, email)
		}
		return Customer{}, err
	}
	return c, nil
}
